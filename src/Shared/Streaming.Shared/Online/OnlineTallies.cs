using System.Globalization;
using StackExchange.Redis;

namespace Streaming.Shared.Online;

/// <summary>
/// Reads the online sums (<see cref="OnlineLayout"/>): SCANs every primary for the aggregate hashes (one on a
/// single node, at most one per slot on a cluster), reads each whole and adds them up per arm.
/// </summary>
public static class OnlineTallies
{
    /// <summary>Every arm, ordered by name.</summary>
    /// <exception cref="RedisException">Redis could not be reached.</exception>
    public static async Task<IReadOnlyList<ArmTally>> ReadAsync(IConnectionMultiplexer redis, string prefix)
    {
        ArgumentNullException.ThrowIfNull(redis);
        var db = redis.GetDatabase();
        var sums = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            await foreach (var key in server.KeysAsync(db.Database, OnlineLayout.AggregatePattern(prefix), pageSize: 1000).ConfigureAwait(false))
            {
                foreach (var field in await db.HashGetAllAsync(key).ConfigureAwait(false))
                {
                    Add(sums, field.Name.ToString(), (double)field.Value);
                }
            }
        }

        return Tallies(sums);
    }

    /// <summary>Adds a field's value (<c>{arm}|{stat}</c>) to its arm's sums.</summary>
    internal static void Add(Dictionary<string, double[]> sums, string field, double value)
    {
        int bar = field.LastIndexOf('|');
        int stat = bar < 0 ? -1 : Array.IndexOf(OnlineLayout.Stats, field[(bar + 1)..]);
        if (stat < 0)
        {
            return;   // not a field of this layout: ignored rather than failing the reader
        }

        string arm = field[..bar];
        if (!sums.TryGetValue(arm, out var values))
        {
            sums[arm] = values = new double[OnlineLayout.Stats.Length];
        }

        values[stat] += value;
    }

    internal static IReadOnlyList<ArmTally> Tallies(Dictionary<string, double[]> sums) =>
        [.. sums.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => ArmTally.FromSums(s.Key, s.Value))];

    /// <summary>The figure as the tables print it (<c>-</c> when undefined).</summary>
    public static string Format(double value, string format = "F4") =>
        double.IsNaN(value) ? "-" : value.ToString(format, CultureInfo.InvariantCulture);
}

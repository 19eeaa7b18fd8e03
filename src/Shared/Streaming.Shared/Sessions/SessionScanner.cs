using System.Text;
using StackExchange.Redis;

namespace Streaming.Shared.Sessions;

/// <summary>Which sessions a <see cref="SessionScanner"/> keeps.</summary>
public sealed record SessionSampleOptions
{
    /// <summary>Fewest interactions (on items <see cref="KeepItem"/> accepts) a session needs.</summary>
    public int MinInteractions { get; init; } = 13;

    /// <summary>Most sessions kept: a uniform sample (reservoir) of the eligible ones, so memory stays bounded.</summary>
    public int MaxSessions { get; init; } = 20_000;

    /// <summary>Keep only sessions whose newest interaction happened at or after this time; null keeps every session.</summary>
    public DateTimeOffset? NewestSince { get; init; }

    /// <summary>Which items count (the catalogue); interactions with other items are dropped. Null keeps all.</summary>
    public Func<int, bool>? KeepItem { get; init; }

    /// <summary>Seeds the reservoir.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Keys asked for per SCAN call, and sessions loaded per pipelined page.</summary>
    public int PageSize { get; init; } = 500;
}

/// <summary>A uniform sample of the eligible sessions, and how many sessions were looked at.</summary>
/// <param name="Sessions">The kept sessions (interactions newest first, as stored; only kept items).</param>
/// <param name="Scanned">Sessions read.</param>
/// <param name="Eligible">Sessions that met the window and the minimum; <c>Sessions.Count</c> = min(Eligible, MaxSessions).</param>
public sealed record SessionSample(IReadOnlyList<StoredSession> Sessions, long Scanned, long Eligible);

/// <summary>
/// Reads every session of a <see cref="RedisSessionStore"/> prefix and keeps a bounded, uniform sample of those
/// with enough recent interactions: the MetaTrainer's tasks. SCANs <c>{prefix}:{*}:m</c> on every primary
/// (one pass on a single node; every shard of a cluster, since each primary holds its own slots), loads each
/// page of users pipelined (<see cref="RedisSessionStore.LoadAsync"/>), and keeps at most
/// <see cref="SessionSampleOptions.MaxSessions"/> of the eligible ones by reservoir sampling (Vitter's
/// algorithm R), so memory is bounded whatever the number of users. SCAN never blocks the server, but it is
/// not a snapshot: sessions written during the scan may or may not be seen, and a key may be returned twice
/// (during a rehash); a duplicate of a session still in the reservoir is ignored. Thread-safe.
/// </summary>
public sealed class SessionScanner(IConnectionMultiplexer redis, SessionStoreOptions options, string prefix = "s")
{
    private readonly RedisSessionStore store = new(redis, options, prefix);

    /// <summary>Scans every session and returns the sample.</summary>
    /// <exception cref="RedisException">Redis could not be reached.</exception>
    /// <exception cref="InvalidOperationException">The connection knows no primary server.</exception>
    public async Task<SessionSample> SampleAsync(SessionSampleOptions sample, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentOutOfRangeException.ThrowIfLessThan(sample.MaxSessions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sample.PageSize, 1);
        var reservoir = new List<StoredSession>(Math.Min(sample.MaxSessions, 4096));
        var positions = new Dictionary<string, int>(StringComparer.Ordinal);
        var random = new Random(sample.Seed);
        long scanned = 0, eligible = 0;
        string head = prefix + ":{", tail = SessionLayout.MetaSuffix;
        var servers = redis.GetServers().Where(s => !s.IsReplica).ToArray();
        if (servers.Length == 0)
        {
            throw new InvalidOperationException($"no primary Redis server to scan for sessions under '{prefix}' ({string.Join(",", redis.GetEndPoints().Select(EndPointCollection.ToString))})");
        }

        foreach (var server in servers)
        {
            var page = new List<string>(sample.PageSize);
            await foreach (var key in server.KeysAsync(pattern: Glob(head) + "*" + Glob(tail), pageSize: sample.PageSize).WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                string text = key.ToString();
                if (text.Length > head.Length + tail.Length && text.StartsWith(head, StringComparison.Ordinal) && text.EndsWith(tail, StringComparison.Ordinal))
                {
                    page.Add(text[head.Length..^tail.Length]);
                }

                if (page.Count == sample.PageSize)
                {
                    await Keep(page).ConfigureAwait(false);
                }
            }

            await Keep(page).ConfigureAwait(false);
        }

        // SCAN order follows Redis's hash table, which depends on every other key in the database: sorted, the
        // same sessions give the same training run wherever they are stored.
        reservoir.Sort((a, b) => string.CompareOrdinal(a.UserId, b.UserId));
        return new SessionSample(reservoir, scanned, eligible);

        async Task Keep(List<string> users)
        {
            if (users.Count == 0)
            {
                return;
            }

            var sessions = await store.LoadAsync(users).ConfigureAwait(false);
            users.Clear();
            foreach (var session in sessions)
            {
                scanned++;
                if (Eligible(session, sample) is not { } kept || positions.ContainsKey(kept.UserId))
                {
                    continue;
                }

                // Algorithm R: the i-th eligible session (from 0) replaces a random member with probability k / (i + 1).
                long index = eligible++;
                if (reservoir.Count < sample.MaxSessions)
                {
                    positions[kept.UserId] = reservoir.Count;
                    reservoir.Add(kept);
                }
                else
                {
                    long slot = random.NextInt64(index + 1);
                    if (slot < sample.MaxSessions)
                    {
                        positions.Remove(reservoir[(int)slot].UserId);
                        positions[kept.UserId] = (int)slot;
                        reservoir[(int)slot] = kept;
                    }
                }
            }
        }
    }

    /// <summary>The session with only the kept items, if it has enough of them and its newest interaction is in the window.</summary>
    internal static StoredSession? Eligible(StoredSession session, SessionSampleOptions sample)
    {
        if (session.Recent.Count == 0)
        {
            return null;
        }

        if (sample.NewestSince is { } since && session.Recent.Max(r => r.EventTimeMs) < since.ToUnixTimeMilliseconds())
        {
            return null;
        }

        var recent = sample.KeepItem is { } keep ? session.Recent.Where(r => keep(r.ItemId)).ToArray() : session.Recent;
        return recent.Count < sample.MinInteractions ? null : session with { Recent = recent };
    }

    // Redis glob patterns treat * ? [ ] \ as special: escape them in the literal parts.
    private static string Glob(string literal)
    {
        var escaped = new StringBuilder(literal.Length);
        foreach (char c in literal)
        {
            if (c is '*' or '?' or '[' or ']' or '\\')
            {
                escaped.Append('\\');
            }

            escaped.Append(c);
        }

        return escaped.ToString();
    }
}

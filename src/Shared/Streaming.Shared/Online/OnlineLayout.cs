using System.Buffers.Binary;
using System.Globalization;
using System.Text.RegularExpressions;
using StackExchange.Redis;

namespace Streaming.Shared.Online;

/// <summary>
/// The Redis layout of online evaluation, shared by every writer (the session stores' script and pipelined
/// commands) and reader (<see cref="OnlineTallies"/>):
/// <list type="bullet">
/// <item>the last served list, in the user's session hash (<see cref="Sessions.SessionLayout"/>), so that the one
/// <c>HMGET</c> that reads a session for its events reads the list they are attributed to as well: <c>v</c> version,
/// <c>w</c> canary window, <c>t</c> produced-at in Unix milliseconds, <c>k</c> the items, <see cref="EntryBytes"/>
/// each (item int32, predicted rating float32, little-endian), at most <see cref="MaxItems"/>;</item>
/// <item><c>{prefix}:{user}:o</c>, a hash per user beside the session (same hash tag, so the same cluster slot): the
/// user's counters per arm (<c>e|{arm}</c> attributed events, <c>h|{arm}</c> hits), which the per-user hit rate is
/// updated from, read only for a user with a list. Its TTL is the session's, set when a counter is created and
/// again with every list served.</item>
/// <item><c>{prefix}:online</c> (on a cluster one per slot, <c>{prefix}:online:{tag}</c>, so that a user's update
/// touches keys of one slot only): per arm, the sums the figures and their intervals come from, fields
/// <c>{arm}|{stat}</c> (<see cref="Stats"/>). Few keys, a few fields per version; no TTL.</item>
/// </list>
/// </summary>
public static partial class OnlineLayout
{
    /// <summary>The fields of the last served list in the session hash: version, canary window, produced-at, items.</summary>
    public static readonly RedisValue[] ListFields = ["v", "w", "t", "k"];

    /// <summary>Bytes per list entry in the <c>k</c> field.</summary>
    public const int EntryBytes = 8;

    /// <summary>Longest list kept per user (longer lists are cut: ranks beyond this count as misses).</summary>
    public const int MaxItems = 100;

    /// <summary>The per-arm sums, in the order <see cref="ArmTally"/> takes them.</summary>
    public static readonly string[] Stats = ["n", "u", "h", "rr", "rr2", "r", "ae", "ae2", "uh", "uh2"];

    /// <summary>Model versions and canary windows become field names and metric labels: short, plain tokens only.</summary>
    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    public static partial Regex VersionPattern();

    /// <summary>The per-user hash of the user's counters per arm.</summary>
    public static RedisKey User(string prefix, string userId) => $"{prefix}:{{{userId}}}:o";

    /// <summary>The aggregate hash: one key on a single node (<paramref name="slotTag"/> null), one per slot on a cluster.</summary>
    public static RedisKey Aggregate(string prefix, string? slotTag) => slotTag is null ? $"{prefix}:online" : $"{prefix}:online:{{{slotTag}}}";

    /// <summary>What <see cref="OnlineTallies"/> scans for.</summary>
    public static string AggregatePattern(string prefix) => $"{prefix}:online*";

    /// <summary>An arm's name: the version, with <c>@{window}</c> when it was served during a canary.</summary>
    public static string Arm(string version, string? window) => string.IsNullOrEmpty(window) ? version : $"{version}@{window}";

    /// <summary>The list as stored in the <c>k</c> field (cut to <see cref="MaxItems"/>).</summary>
    public static byte[] EncodeList(IReadOnlyList<Contracts.RecommendedItem> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        int count = Math.Min(items.Count, MaxItems);
        var bytes = new byte[count * EntryBytes];
        for (int i = 0; i < count; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * EntryBytes), items[i].ItemId);
            // NaN where the list predicts no rating: attribution then counts the hit and no error.
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan((i * EntryBytes) + 4), items[i].PredictedRating ?? float.NaN);
        }

        return bytes;
    }

    /// <summary>The inverse of <see cref="EncodeList"/>.</summary>
    public static (int ItemId, float Predicted)[] DecodeList(ReadOnlySpan<byte> list)
    {
        var items = new (int, float)[list.Length / EntryBytes];
        for (int i = 0; i < items.Length; i++)
        {
            items[i] = (BinaryPrimitives.ReadInt32LittleEndian(list[(i * EntryBytes)..]), BinaryPrimitives.ReadSingleLittleEndian(list[((i * EntryBytes) + 4)..]));
        }

        return items;
    }

    private static readonly Lazy<string[]> SlotTags = new(() =>
    {
        // Some short hash tag for every one of the 16,384 slots, found by trying "0", "1", ... (about 170,000 tries).
        var tags = new string?[16384];
        int found = 0;
        for (long i = 0; found < tags.Length; i++)
        {
            string tag = i.ToString(CultureInfo.InvariantCulture);
            int slot = Crc16.Slot(tag);
            if (tags[slot] is null)
            {
                tags[slot] = tag;
                found++;
            }
        }

        return tags!;
    });

    /// <summary>A hash tag whose keys fall in <paramref name="slot"/> (Redis Cluster).</summary>
    public static string SlotTag(int slot) => SlotTags.Value[slot];

    /// <summary>Redis Cluster's key slot of a hash tag's content: CRC16-CCITT (XModem) modulo 16,384.</summary>
    private static class Crc16
    {
        public static int Slot(string tag)
        {
            int crc = 0;
            foreach (char c in tag)
            {
                crc ^= c << 8;   // the tags are ASCII digits: one byte per character
                for (int bit = 0; bit < 8; bit++)
                {
                    crc = (crc & 0x8000) != 0 ? ((crc << 1) ^ 0x1021) & 0xFFFF : (crc << 1) & 0xFFFF;
                }
            }

            return crc & 16383;
        }
    }
}

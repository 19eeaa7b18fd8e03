using System.Buffers.Binary;
using StackExchange.Redis;
using Streaming.Shared.Contracts;

namespace Streaming.Shared.Sessions;

/// <summary>
/// The Redis layout of a session, shared by every reader and writer (<see cref="RedisSessionStore"/>,
/// <see cref="RedisPipelinedSessionStore"/>, <see cref="SessionScanner"/>): one hash per user,
/// <c>{prefix}:{user}:m</c> (the hash tag keeps a user's session in one cluster slot), with the fields
/// <list type="bullet">
/// <item><c>n</c> interactions so far, <c>r</c> the count at the last adaptation (-1: none yet), <c>g a o z</c>
/// the latest profile fields;</item>
/// <item><c>h</c> the recent interactions, newest first, as one string of fixed-size entries
/// (<see cref="EntryBytes"/> each: item int32, rating float32, event time int64 milliseconds, little-endian),
/// cut to the history bound;</item>
/// <item><c>x</c> when the session's TTL was last refreshed (Unix seconds, the writer's clock): the TTL is set again
/// only when this is at least <see cref="TtlRefreshSeconds"/> old, so a session expires between
/// <c>TtlSeconds - TtlSeconds / 64</c> and <c>TtlSeconds</c> after its last interaction, without an <c>EXPIRE</c> per event;</item>
/// <item><c>v w t k</c> the user's last served list (<see cref="Online.OnlineLayout"/>), written by
/// <see cref="RedisSessionStore.RecordServedAsync"/> and read with the session when events are attributed;</item>
/// <item>the dedup window: <c>i{event id}</c> the event's sequence number (1 for the user's first event). An id
/// is a duplicate while its sequence number is within <c>DedupWindow</c> of the count; the fields of ids that
/// left the window are deleted each time the count passes a multiple of the window, so at most twice the
/// window are kept.</item>
/// </list>
/// One key makes a session one read (<c>HMGET</c>, the dedup lookups included) and one write (<c>HSET</c>, with an
/// <c>EXPIRE</c> when the TTL is due for a refresh), whatever the number of events applied.
/// </summary>
internal static class SessionLayout
{
    /// <summary>Bytes per history entry in the <c>h</c> field.</summary>
    public const int EntryBytes = 16;

    public static readonly RedisValue Count = "n";
    public static readonly RedisValue AdaptedAt = "r";
    public static readonly RedisValue History = "h";
    public static readonly RedisValue Gender = "g";
    public static readonly RedisValue Age = "a";
    public static readonly RedisValue Occupation = "o";
    public static readonly RedisValue Zip = "z";
    public static readonly RedisValue TtlRefreshedAt = "x";

    /// <summary>What <c>HMGET</c> asks a session for when loading it.</summary>
    public static readonly RedisValue[] LoadFields = [Count, Gender, Age, Occupation, Zip, History];

    /// <summary>The suffix of the meta hash; <see cref="SessionScanner"/> finds sessions by it.</summary>
    public const string MetaSuffix = "}:m";

    public static RedisKey Meta(string prefix, string userId) => $"{prefix}:{{{userId}}}:m";

    /// <summary>How often a session's TTL is set again (seconds): a 64th of the TTL, at least one second.</summary>
    public static long TtlRefreshSeconds(int ttlSeconds) => Math.Max(1, ttlSeconds / 64);

    /// <summary>Whether a write at <paramref name="now"/> (Unix seconds) sets the TTL again, given the stored <c>x</c> field (a clock that went back refreshes too).</summary>
    public static bool TtlDue(RedisValue refreshedAt, long now, int ttlSeconds) =>
        refreshedAt.IsNull || !refreshedAt.TryParse(out long at) || now - at >= TtlRefreshSeconds(ttlSeconds) || now < at;

    /// <summary>The field holding an event id's sequence number while it is in the dedup window.</summary>
    public static RedisValue IdField(string eventId) => "i" + eventId;

    /// <summary>Whether an <c>HGETALL</c> field is a dedup window entry.</summary>
    public static bool IsIdField(RedisValue field) => ((ReadOnlyMemory<byte>)field).Span.StartsWith("i"u8);

    /// <summary>Whether going from <paramref name="before"/> to <paramref name="after"/> events passes a multiple of the window: the ids that left it are deleted then.</summary>
    public static bool Sweeps(long before, long after, int window) => after > window && before / window != after / window;

    /// <summary>One history entry.</summary>
    public static byte[] Encode(Interaction e)
    {
        var bytes = new byte[EntryBytes];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, e.ItemId);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4), e.Rating);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), e.EventTime.ToUnixTimeMilliseconds());
        return bytes;
    }

    /// <summary>The entries of an <c>h</c> field, newest first; a trailing partial entry (never written) is ignored.</summary>
    public static StoredInteraction[] Decode(ReadOnlySpan<byte> history)
    {
        var entries = new StoredInteraction[history.Length / EntryBytes];
        for (int i = 0; i < entries.Length; i++)
        {
            var entry = history.Slice(i * EntryBytes, EntryBytes);
            entries[i] = new StoredInteraction(
                BinaryPrimitives.ReadInt32LittleEndian(entry),
                BinaryPrimitives.ReadSingleLittleEndian(entry[4..]),
                BinaryPrimitives.ReadInt64LittleEndian(entry[8..]));
        }

        return entries;
    }

    /// <summary>
    /// One event's outcome as one integer (what the script returns per event): <c>count * 8 + applied * 4 + due</c>,
    /// due 1 for adaptation, 2 for onboarding, 0 otherwise.
    /// </summary>
    public static long PackResult(ApplyResult result) =>
        (result.Interactions * 8) + (result.Applied ? 4 : 0) + (result.AdaptNow ? 1 : result.OnboardNow ? 2 : 0);

    /// <summary>The inverse of <see cref="PackResult"/>.</summary>
    public static ApplyResult UnpackResult(long packed)
    {
        long due = packed & 3;
        return new ApplyResult((packed & 4) != 0, packed >> 3, AdaptNow: due == 1, OnboardNow: due == 2);
    }

    /// <summary>A stored session from <see cref="LoadFields"/>' values, or null when the user has none.</summary>
    public static StoredSession? Load(string userId, RedisValue[] values)
    {
        if (values[0].IsNull && values[5].IsNull)
        {
            return null;
        }

        var profile = new Data.UserProfile(Text(values[1]), Text(values[2]), Text(values[3]), Text(values[4]));
        long count = values[0].IsNull ? 0 : (long)values[0];
        var history = values[5].IsNull ? [] : Decode(((ReadOnlyMemory<byte>)values[5]).Span);
        return new StoredSession(userId, profile, count, history);
    }

    private static string Text(RedisValue value) => value.IsNull ? "" : value.ToString();
}

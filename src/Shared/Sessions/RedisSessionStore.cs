using System.Globalization;
using StackExchange.Redis;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;

namespace Streaming.Shared.Sessions;

/// <summary>What applying one interaction did.</summary>
/// <param name="Applied">False when the event id was seen before (a redelivery or a producer retry).</param>
/// <param name="Interactions">The user's interaction count after this event.</param>
/// <param name="AdaptNow">This event makes the user due for adaptation (first at the threshold, then every K).</param>
/// <param name="OnboardNow">This is the user's first event (and the threshold is further away): the user is due for onboarding recommendations.</param>
public readonly record struct ApplyResult(bool Applied, long Interactions, bool AdaptNow, bool OnboardNow = false);

/// <summary>A user's session as stored: profile, total interactions, and the most recent interactions (newest first).</summary>
public sealed record StoredSession(string UserId, UserProfile Profile, long Interactions, IReadOnlyList<StoredInteraction> Recent);

/// <summary>One interaction of a stored session.</summary>
public readonly record struct StoredInteraction(int ItemId, float Rating, long EventTimeMs);

/// <summary>
/// Per-user sessions in Redis. Each user has three keys sharing the hash tag <c>{user}</c> (one cluster slot):
/// <c>s:{u}:h</c> a list of recent interactions, <c>s:{u}:m</c> a hash of counters and profile, and
/// <c>s:{u}:e</c> a sorted set of the last event ids, which makes applying an event idempotent.
/// One Lua script applies an event atomically; many events are sent pipelined. Thread-safe.
/// </summary>
public sealed class RedisSessionStore(IConnectionMultiplexer redis, SessionStoreOptions options, string prefix = "s") : ISessionStore
{
    // Returns {applied, count, due}: due is 1 for adaptation, 2 for onboarding (the first event of a user whose
    // threshold is further away), 0 otherwise. A duplicate of the event that made the user due returns the same
    // due again (onboarding only while the user is still below the threshold), so a crash between applying the
    // event and publishing its request loses nothing.
    private const string ApplyScript = """
        local threshold = tonumber(ARGV[5])
        local onboard = ARGV[12] == '1' and threshold > 1
        local seq = redis.call('ZSCORE', KEYS[3], ARGV[1])
        if seq then
          local n = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
          local r = tonumber(redis.call('HGET', KEYS[2], 'r') or '-1')
          if tonumber(seq) == r then return {0, n, 1} end
          if onboard and tonumber(seq) == 1 and n < threshold then return {0, n, 2} end
          return {0, n, 0}
        end
        local n = redis.call('HINCRBY', KEYS[2], 'n', 1)
        redis.call('ZADD', KEYS[3], n, ARGV[1])
        local window = tonumber(ARGV[7])
        if n > window then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', n - window) end
        redis.call('LPUSH', KEYS[1], ARGV[2])
        redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
        if ARGV[8] ~= '' then redis.call('HSET', KEYS[2], 'g', ARGV[8]) end
        if ARGV[9] ~= '' then redis.call('HSET', KEYS[2], 'a', ARGV[9]) end
        if ARGV[10] ~= '' then redis.call('HSET', KEYS[2], 'o', ARGV[10]) end
        if ARGV[11] ~= '' then redis.call('HSET', KEYS[2], 'z', ARGV[11]) end
        local ttl = tonumber(ARGV[4])
        redis.call('EXPIRE', KEYS[1], ttl)
        redis.call('EXPIRE', KEYS[2], ttl)
        redis.call('EXPIRE', KEYS[3], ttl)
        local every = tonumber(ARGV[6])
        local r = tonumber(redis.call('HGET', KEYS[2], 'r') or '-1')
        if n >= threshold and (r < 0 or n - r >= every) then
          redis.call('HSET', KEYS[2], 'r', n)
          return {1, n, 1}
        end
        if onboard and n == 1 then return {1, n, 2} end
        return {1, n, 0}
        """;

    /// <summary>Applies interactions in order (pipelined); returns one result per interaction.</summary>
    /// <exception cref="RedisException">Redis could not be reached or refused the write (the caller retries).</exception>
    public async Task<ApplyResult[]> ApplyAsync(IReadOnlyList<Interaction> interactions)
    {
        ArgumentNullException.ThrowIfNull(interactions);
        var db = redis.GetDatabase();
        var pending = new Task<RedisResult>[interactions.Count];
        for (int i = 0; i < interactions.Count; i++)
        {
            var e = interactions[i];
            var p = e.Profile;
            pending[i] = db.ScriptEvaluateAsync(ApplyScript, Keys(e.UserId),
            [
                e.EventId,
                Encode(e),
                options.MaxHistory,
                options.TtlSeconds,
                options.AdaptThreshold,
                options.AdaptEvery,
                options.DedupWindow,
                p?.Gender ?? "",
                p?.Age ?? "",
                p?.Occupation ?? "",
                p?.Zip ?? "",
                options.Onboarding ? "1" : "0",
            ]);
        }

        var results = new ApplyResult[interactions.Count];
        for (int i = 0; i < pending.Length; i++)
        {
            var values = (RedisResult[])(await pending[i].ConfigureAwait(false))!;
            long due = (long)values[2];
            results[i] = new ApplyResult((long)values[0] == 1, (long)values[1], AdaptNow: due == 1, OnboardNow: due == 2);
        }

        return results;
    }

    /// <summary>Loads sessions (pipelined); users without a session are left out.</summary>
    public async Task<IReadOnlyList<StoredSession>> LoadAsync(IReadOnlyList<string> userIds)
    {
        ArgumentNullException.ThrowIfNull(userIds);
        var db = redis.GetDatabase();
        var histories = new Task<RedisValue[]>[userIds.Count];
        var metas = new Task<HashEntry[]>[userIds.Count];
        for (int i = 0; i < userIds.Count; i++)
        {
            var keys = Keys(userIds[i]);
            histories[i] = db.ListRangeAsync(keys[0], 0, options.MaxHistory - 1);
            metas[i] = db.HashGetAllAsync(keys[1]);
        }

        var sessions = new List<StoredSession>(userIds.Count);
        for (int i = 0; i < userIds.Count; i++)
        {
            var meta = (await metas[i].ConfigureAwait(false)).ToDictionary(h => h.Name.ToString(), h => h.Value.ToString(), StringComparer.Ordinal);
            var history = await histories[i].ConfigureAwait(false);
            if (meta.Count == 0 && history.Length == 0)
            {
                continue;
            }

            var profile = new UserProfile(meta.GetValueOrDefault("g", ""), meta.GetValueOrDefault("a", ""), meta.GetValueOrDefault("o", ""), meta.GetValueOrDefault("z", ""));
            long count = long.Parse(meta.GetValueOrDefault("n", "0"), CultureInfo.InvariantCulture);
            sessions.Add(new StoredSession(userIds[i], profile, count, history.Select(v => Decode(v!)).ToArray()));
        }

        return sessions;
    }

    private RedisKey[] Keys(string userId) => [$"{prefix}:{{{userId}}}:h", $"{prefix}:{{{userId}}}:m", $"{prefix}:{{{userId}}}:e"];

    // "item|rating|eventTimeMs": compact, and readable with redis-cli when debugging.
    private static string Encode(Interaction e) =>
        string.Create(CultureInfo.InvariantCulture, $"{e.ItemId}|{e.Rating}|{e.EventTime.ToUnixTimeMilliseconds()}");

    private static StoredInteraction Decode(string value)
    {
        var parts = value.Split('|');
        return new StoredInteraction(
            int.Parse(parts[0], CultureInfo.InvariantCulture),
            float.Parse(parts[1], CultureInfo.InvariantCulture),
            long.Parse(parts[2], CultureInfo.InvariantCulture));
    }
}

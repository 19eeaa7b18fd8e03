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
    // Applies a chunk of events in order. ARGV: max history, TTL, threshold, every, dedup window, onboarding
    // flag, then six values per event (id, encoded interaction, gender, age, occupation, zip); KEYS: three per
    // event (history, meta, event ids). Returns {applied, count, due} per event: due is 1 for adaptation, 2 for
    // onboarding (the first event of a user whose threshold is further away), 0 otherwise. A duplicate of the
    // event that made the user due returns the same due again (onboarding only while the user is still below
    // the threshold), so a crash between applying the event and publishing its request loses nothing.
    private const string ApplyScript = """
        local maxHistory = tonumber(ARGV[1])
        local ttl = tonumber(ARGV[2])
        local threshold = tonumber(ARGV[3])
        local every = tonumber(ARGV[4])
        local window = tonumber(ARGV[5])
        local onboard = ARGV[6] == '1' and threshold > 1
        local function apply(h, m, e, a)
          local seq = redis.call('ZSCORE', e, ARGV[a + 1])
          if seq then
            local n = tonumber(redis.call('HGET', m, 'n') or '0')
            local r = tonumber(redis.call('HGET', m, 'r') or '-1')
            if tonumber(seq) == r then return 0, n, 1 end
            if onboard and tonumber(seq) == 1 and n < threshold then return 0, n, 2 end
            return 0, n, 0
          end
          local n = redis.call('HINCRBY', m, 'n', 1)
          redis.call('ZADD', e, n, ARGV[a + 1])
          if n > window then redis.call('ZREMRANGEBYSCORE', e, '-inf', n - window) end
          redis.call('LPUSH', h, ARGV[a + 2])
          redis.call('LTRIM', h, 0, maxHistory - 1)
          if ARGV[a + 3] ~= '' then redis.call('HSET', m, 'g', ARGV[a + 3]) end
          if ARGV[a + 4] ~= '' then redis.call('HSET', m, 'a', ARGV[a + 4]) end
          if ARGV[a + 5] ~= '' then redis.call('HSET', m, 'o', ARGV[a + 5]) end
          if ARGV[a + 6] ~= '' then redis.call('HSET', m, 'z', ARGV[a + 6]) end
          redis.call('EXPIRE', h, ttl)
          redis.call('EXPIRE', m, ttl)
          redis.call('EXPIRE', e, ttl)
          local r = tonumber(redis.call('HGET', m, 'r') or '-1')
          if n >= threshold and (r < 0 or n - r >= every) then
            redis.call('HSET', m, 'r', n)
            return 1, n, 1
          end
          if onboard and n == 1 then return 1, n, 2 end
          return 1, n, 0
        end
        local out = {}
        for i = 0, #KEYS / 3 - 1 do
          local applied, n, due = apply(KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3], 6 + 6 * i)
          out[#out + 1] = applied
          out[#out + 1] = n
          out[#out + 1] = due
        end
        return out
        """;

    // Events per script call. One call per event costs a round of script dispatch per event (measured: about a
    // sixth of Redis's raw pipelined write rate); on a single Redis node a chunk of events is one call. Under
    // Redis Cluster a script's keys must share a slot, so there each call carries one event (one user's keys
    // share the {user} hash tag).
    private const int ChunkSize = 256;

    private readonly Lazy<bool> cluster = new(() => redis.GetServers().Any(s => s.ServerType == ServerType.Cluster));

    /// <summary>Applies interactions in order (pipelined); returns one result per interaction.</summary>
    /// <exception cref="RedisException">Redis could not be reached or refused the write (the caller retries).</exception>
    public async Task<ApplyResult[]> ApplyAsync(IReadOnlyList<Interaction> interactions)
    {
        ArgumentNullException.ThrowIfNull(interactions);
        var db = redis.GetDatabase();
        int chunk = cluster.Value ? 1 : ChunkSize;
        var pending = new List<Task<RedisResult>>();
        for (int start = 0; start < interactions.Count; start += chunk)
        {
            int count = Math.Min(chunk, interactions.Count - start);
            var keys = new RedisKey[3 * count];
            var args = new RedisValue[6 + (6 * count)];
            args[0] = options.MaxHistory;
            args[1] = options.TtlSeconds;
            args[2] = options.AdaptThreshold;
            args[3] = options.AdaptEvery;
            args[4] = options.DedupWindow;
            args[5] = options.Onboarding ? "1" : "0";
            for (int i = 0; i < count; i++)
            {
                var e = interactions[start + i];
                var p = e.Profile;
                WriteKeys(e.UserId, keys, 3 * i);
                int a = 6 + (6 * i);
                args[a] = e.EventId;
                args[a + 1] = Encode(e);
                args[a + 2] = p?.Gender ?? "";
                args[a + 3] = p?.Age ?? "";
                args[a + 4] = p?.Occupation ?? "";
                args[a + 5] = p?.Zip ?? "";
            }

            pending.Add(db.ScriptEvaluateAsync(ApplyScript, keys, args));
        }

        var results = new ApplyResult[interactions.Count];
        int at = 0;
        foreach (var call in pending)
        {
            var values = (RedisResult[])(await call.ConfigureAwait(false))!;
            for (int v = 0; v < values.Length; v += 3)
            {
                long due = (long)values[v + 2];
                results[at++] = new ApplyResult((long)values[v] == 1, (long)values[v + 1], AdaptNow: due == 1, OnboardNow: due == 2);
            }
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
        var keys = new RedisKey[3];
        for (int i = 0; i < userIds.Count; i++)
        {
            WriteKeys(userIds[i], keys, 0);
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

    /// <summary>A user's history, meta and event-id keys, written at <paramref name="at"/> (no array per event).</summary>
    private void WriteKeys(string userId, RedisKey[] into, int at)
    {
        into[at] = $"{prefix}:{{{userId}}}:h";
        into[at + 1] = $"{prefix}:{{{userId}}}:m";
        into[at + 2] = $"{prefix}:{{{userId}}}:e";
    }

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

using StackExchange.Redis;
using Streaming.Shared.Contracts;

namespace Streaming.Shared.Sessions;

/// <summary>What applying one interaction did.</summary>
/// <param name="Applied">False when the event id was seen before (a redelivery or a producer retry).</param>
/// <param name="Interactions">The user's interaction count after this event.</param>
/// <param name="AdaptNow">This event makes the user due for adaptation (first at the threshold, then every K).</param>
/// <param name="OnboardNow">This is the user's first event (and the threshold is further away): the user is due for onboarding recommendations.</param>
public readonly record struct ApplyResult(bool Applied, long Interactions, bool AdaptNow, bool OnboardNow = false);

/// <summary>A user's session as stored: profile, total interactions, and the most recent interactions (newest first).</summary>
public sealed record StoredSession(string UserId, Data.UserProfile Profile, long Interactions, IReadOnlyList<StoredInteraction> Recent);

/// <summary>One interaction of a stored session.</summary>
public readonly record struct StoredInteraction(int ItemId, float Rating, long EventTimeMs);

/// <summary>
/// Per-user sessions in Redis, in <see cref="SessionLayout"/> (a hash with the counters, profile and history,
/// and a sorted set of recent event ids, per user). One Lua script call applies a chunk of events atomically,
/// grouped per user: a user's state is read once and written once per call, whatever the number of its events;
/// the chunks of a batch are sent pipelined. Thread-safe.
/// </summary>
public sealed class RedisSessionStore(IConnectionMultiplexer redis, SessionStoreOptions options, string prefix = "s") : ISessionStore
{
    // Applies groups of events, in order. ARGV: max history, TTL, threshold, every, dedup window, onboarding
    // flag; then per group (KEYS: its user's meta hash and event-id set): the event count k, three values per
    // event (id, encoded history entry, '1' when profile fields follow), then four profile fields (gender, age,
    // occupation, zip; '' for absent) per event that has them. Returns one integer per event,
    // count * 8 + applied * 4 + due, where due is 1 for adaptation, 2 for onboarding (the first event of a user
    // whose threshold is further away), 0 otherwise. A duplicate of the event that made the user due returns
    // the same due again (onboarding only while the user is still below the threshold), so a crash between
    // applying the event and publishing its request loses nothing.
    //
    // Per group: HMGET (count, last adaptation, history); the dedup lookup (ZADD NX for a single event, which is
    // the insert as well; ZMSCORE plus one ZADD for several); then, if anything was applied, ZREMRANGEBYSCORE
    // past the window, one HSET and two EXPIREs. An id stays a duplicate while its sequence number is within the
    // window of the count at that event, exactly as if the window were trimmed after every event.
    private const string ApplyScript = """
        local maxHistory = tonumber(ARGV[1])
        local ttl = tonumber(ARGV[2])
        local threshold = tonumber(ARGV[3])
        local every = tonumber(ARGV[4])
        local window = tonumber(ARGV[5])
        local onboard = ARGV[6] == '1' and threshold > 1
        local historyBytes = maxHistory * 16
        local out = {}
        local a = 7
        for u = 1, #KEYS, 2 do
          local m, e = KEYS[u], KEYS[u + 1]
          local k = tonumber(ARGV[a])
          local base = a + 1
          local pa = base + 3 * k
          local state = redis.call('HMGET', m, 'n', 'r', 'h')
          local n = tonumber(state[1]) or 0
          local r0 = tonumber(state[2]) or -1
          local r, n0 = r0, n
          local seen, added, fresh = {}, {}, {}
          local g, ag, o, z
          if k > 1 then
            local ids = {}
            for j = 0, k - 1 do ids[j + 1] = ARGV[base + 3 * j] end
            local scores = redis.call('ZMSCORE', e, unpack(ids))
            for j = 1, k do
              if scores[j] then seen[ids[j]] = tonumber(scores[j]) end
            end
          end
          for j = 0, k - 1 do
            local at = base + 3 * j
            local id = ARGV[at]
            local seq
            if k > 1 then
              seq = seen[id]
              if seq and seq <= n - window then seq = nil end
            elseif redis.call('ZADD', e, 'NX', n + 1, id) == 0 then
              seq = tonumber(redis.call('ZSCORE', e, id))
            end
            local withProfile = ARGV[at + 2] == '1'
            if seq then
              local due = 0
              if seq == r then due = 1 elseif onboard and seq == 1 and n < threshold then due = 2 end
              out[#out + 1] = n * 8 + due
            else
              n = n + 1
              if k > 1 then
                seen[id] = n
                added[#added + 1] = n
                added[#added + 1] = id
              end
              fresh[#fresh + 1] = ARGV[at + 1]
              if withProfile then
                if ARGV[pa] ~= '' then g = ARGV[pa] end
                if ARGV[pa + 1] ~= '' then ag = ARGV[pa + 1] end
                if ARGV[pa + 2] ~= '' then o = ARGV[pa + 2] end
                if ARGV[pa + 3] ~= '' then z = ARGV[pa + 3] end
              end
              local due = 0
              if n >= threshold and (r < 0 or n - r >= every) then
                r = n
                due = 1
              elseif onboard and n == 1 then
                due = 2
              end
              out[#out + 1] = n * 8 + 4 + due
            end
            if withProfile then pa = pa + 4 end
          end
          a = pa
          if n > n0 then
            if #added > 0 then redis.call('ZADD', e, unpack(added)) end
            if n > window then redis.call('ZREMRANGEBYSCORE', e, '-inf', n - window) end
            local newest = {}
            for j = #fresh, 1, -1 do newest[#newest + 1] = fresh[j] end
            local h = table.concat(newest) .. (state[3] or '')
            if #h > historyBytes then h = string.sub(h, 1, historyBytes) end
            local fields = {'n', n, 'h', h}
            if r ~= r0 then fields[#fields + 1] = 'r'; fields[#fields + 1] = r end
            if g then fields[#fields + 1] = 'g'; fields[#fields + 1] = g end
            if ag then fields[#fields + 1] = 'a'; fields[#fields + 1] = ag end
            if o then fields[#fields + 1] = 'o'; fields[#fields + 1] = o end
            if z then fields[#fields + 1] = 'z'; fields[#fields + 1] = z end
            redis.call('HSET', m, unpack(fields))
            redis.call('EXPIRE', m, ttl)
            redis.call('EXPIRE', e, ttl)
          end
        end
        return out
        """;

    // Events per script call. A call costs one script dispatch, so a few hundred events share it; more would
    // hold Redis (single-threaded) for longer per call. It also bounds a group's ZMSCORE / ZADD arguments well
    // under Lua's unpack limit (8,000). Under Redis Cluster a script's keys must share a slot, so events are
    // first bucketed by their user's slot; on a single node every event is in one bucket.
    private const int ChunkSize = 256;

    private readonly Lazy<bool> cluster = new(() => redis.GetServers().Any(s => s.ServerType == ServerType.Cluster));

    /// <summary>Applies interactions in order per user (pipelined); returns one result per interaction.</summary>
    /// <exception cref="RedisException">Redis could not be reached or refused the write (the caller retries).</exception>
    public async Task<ApplyResult[]> ApplyAsync(IReadOnlyList<Interaction> interactions)
    {
        ArgumentNullException.ThrowIfNull(interactions);
        var db = redis.GetDatabase();
        var calls = new List<(List<int> Order, Task<RedisResult> Result)>();
        foreach (var bucket in UserGroups.Buckets(interactions, cluster.Value ? user => redis.HashSlot(SessionLayout.Meta(prefix, user)) : null))
        {
            foreach (var chunk in UserGroups.Chunks(bucket, ChunkSize))
            {
                calls.Add((chunk.SelectMany(g => g).ToList(), db.ScriptEvaluateAsync(ApplyScript, Keys(interactions, chunk), Arguments(interactions, chunk))));
            }
        }

        var results = new ApplyResult[interactions.Count];
        foreach (var (order, call) in calls)
        {
            var values = (RedisResult[])(await call.ConfigureAwait(false))!;
            for (int v = 0; v < values.Length; v++)
            {
                results[order[v]] = SessionLayout.UnpackResult((long)values[v]);
            }
        }

        return results;
    }

    /// <summary>Loads sessions (pipelined: one HMGET per user); users without a session are left out.</summary>
    public async Task<IReadOnlyList<StoredSession>> LoadAsync(IReadOnlyList<string> userIds)
    {
        ArgumentNullException.ThrowIfNull(userIds);
        var db = redis.GetDatabase();
        var reads = new Task<RedisValue[]>[userIds.Count];
        for (int i = 0; i < userIds.Count; i++)
        {
            reads[i] = db.HashGetAsync(SessionLayout.Meta(prefix, userIds[i]), SessionLayout.LoadFields);
        }

        var sessions = new List<StoredSession>(userIds.Count);
        for (int i = 0; i < userIds.Count; i++)
        {
            if (SessionLayout.Load(userIds[i], await reads[i].ConfigureAwait(false)) is { } session)
            {
                sessions.Add(session);
            }
        }

        return sessions;
    }

    private RedisKey[] Keys(IReadOnlyList<Interaction> interactions, List<List<int>> chunk)
    {
        var keys = new RedisKey[2 * chunk.Count];
        for (int g = 0; g < chunk.Count; g++)
        {
            string user = interactions[chunk[g][0]].UserId;
            keys[2 * g] = SessionLayout.Meta(prefix, user);
            keys[(2 * g) + 1] = SessionLayout.EventIds(prefix, user);
        }

        return keys;
    }

    private RedisValue[] Arguments(IReadOnlyList<Interaction> interactions, List<List<int>> chunk)
    {
        var args = new List<RedisValue>(6 + chunk.Count + (3 * ChunkSize))
        {
            options.MaxHistory, options.TtlSeconds, options.AdaptThreshold, options.AdaptEvery, options.DedupWindow, options.Onboarding ? "1" : "0",
        };
        foreach (var group in chunk)
        {
            args.Add(group.Count);
            foreach (int i in group)
            {
                var e = interactions[i];
                args.Add(e.EventId);
                args.Add(SessionLayout.Encode(e));
                args.Add(e.Profile is null ? RedisValue.EmptyString : "1");
            }

            foreach (int i in group)
            {
                if (interactions[i].Profile is { } p)
                {
                    args.Add(p.Gender ?? "");
                    args.Add(p.Age ?? "");
                    args.Add(p.Occupation ?? "");
                    args.Add(p.Zip ?? "");
                }
            }
        }

        return [.. args];
    }
}

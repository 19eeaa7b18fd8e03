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
/// Per-user sessions in Redis, in <see cref="SessionLayout"/> (one hash per user: counters, profile, history
/// and the dedup window). One Lua script call applies a chunk of events atomically, grouped per user: a user's
/// state is read once and written once per call, whatever the number of its events; the chunks of a batch are
/// sent pipelined. Thread-safe.
/// </summary>
public sealed class RedisSessionStore(IConnectionMultiplexer redis, SessionStoreOptions options, string prefix = "s") : ISessionStore
{
    // Applies groups of events, in order. ARGV: max history, TTL, threshold, every, dedup window, onboarding
    // flag; then per group (KEYS: its user's session hash): the event count k, three values per event (id,
    // encoded history entry, '1' when profile fields follow), then four profile fields (gender, age,
    // occupation, zip; '' for absent) per event that has them. Returns one integer per event,
    // count * 8 + applied * 4 + due, where due is 1 for adaptation, 2 for onboarding (the first event of a user
    // whose threshold is further away), 0 otherwise. A duplicate of the event that made the user due returns
    // the same due again (onboarding only while the user is still below the threshold), so a crash between
    // applying the event and publishing its request loses nothing.
    //
    // Per group: one HMGET (count, last adaptation, history, and the group's ids' sequence numbers), then, if
    // anything was applied, one HSET and one EXPIRE. An id is a duplicate while its sequence number is within
    // the window of the count (exactly as if the window were trimmed after every event); the fields of ids
    // that left it are deleted every window events (one HGETALL, one HDEL per 1,000), so a session holds at
    // most twice the window. A lone event (the common case: users' events interleave) takes a path with no Lua
    // tables; several events of a user take the general one.
    private const string ApplyScript = """
        local maxHistory = tonumber(ARGV[1])
        local ttl = tonumber(ARGV[2])
        local threshold = tonumber(ARGV[3])
        local every = tonumber(ARGV[4])
        local window = tonumber(ARGV[5])
        local onboard = ARGV[6] == '1' and threshold > 1
        local historyBytes = maxHistory * 16
        local function applied(n, r)
          if n >= threshold and (r < 0 or n - r >= every) then return n, n * 8 + 5 end
          if onboard and n == 1 then return r, n * 8 + 6 end
          return r, n * 8 + 4
        end
        local function duplicate(seq, n, r)
          if seq == r then return n * 8 + 1 end
          if onboard and seq == 1 and n < threshold then return n * 8 + 2 end
          return n * 8
        end
        local function history(entries, stored)
          local h = entries .. (stored or '')
          if #h > historyBytes then return string.sub(h, 1, historyBytes) end
          return h
        end
        -- Every window events, the ids that left the window are deleted (they count as new already).
        local function sweep(m, n0, n)
          if math.floor(n0 / window) == math.floor(n / window) or n <= window then return end
          local all = redis.call('HGETALL', m)
          local gone = {}
          for j = 1, #all, 2 do
            if string.sub(all[j], 1, 1) == 'i' and tonumber(all[j + 1]) <= n - window then
              gone[#gone + 1] = all[j]
              if #gone == 1000 then
                redis.call('HDEL', m, unpack(gone))
                gone = {}
              end
            end
          end
          if #gone > 0 then redis.call('HDEL', m, unpack(gone)) end
        end
        local out, o = {}, 0
        local a = 7
        for u = 1, #KEYS do
          local m = KEYS[u]
          local k = tonumber(ARGV[a])
          local base = a + 1
          local pa = base + 3 * k
          if k == 1 then
            local id = ARGV[base]
            local idField = 'i' .. id
            local state = redis.call('HMGET', m, 'n', 'r', 'h', idField)
            local n = tonumber(state[1]) or 0
            local r = tonumber(state[2]) or -1
            local seq = tonumber(state[4])
            o = o + 1
            if seq and seq > n - window then
              out[o] = duplicate(seq, n, r)
            else
              n = n + 1
              r, out[o] = applied(n, r)
              redis.call('HSET', m, 'n', n, 'r', r, 'h', history(ARGV[base + 1], state[3]), idField, n)
              if ARGV[base + 2] == '1' then
                if ARGV[pa] ~= '' then redis.call('HSET', m, 'g', ARGV[pa]) end
                if ARGV[pa + 1] ~= '' then redis.call('HSET', m, 'a', ARGV[pa + 1]) end
                if ARGV[pa + 2] ~= '' then redis.call('HSET', m, 'o', ARGV[pa + 2]) end
                if ARGV[pa + 3] ~= '' then redis.call('HSET', m, 'z', ARGV[pa + 3]) end
              end
              sweep(m, n - 1, n)
              redis.call('EXPIRE', m, ttl)
            end
            if ARGV[base + 2] == '1' then pa = pa + 4 end
          else
            local read = {'n', 'r', 'h'}
            for j = 0, k - 1 do read[4 + j] = 'i' .. ARGV[base + 3 * j] end
            local state = redis.call('HMGET', m, unpack(read))
            local n = tonumber(state[1]) or 0
            local r = tonumber(state[2]) or -1
            local n0 = n
            local seen = {}
            for j = 0, k - 1 do
              if state[4 + j] then seen[ARGV[base + 3 * j]] = tonumber(state[4 + j]) end
            end
            local set, fresh = {}, {}
            for j = 0, k - 1 do
              local at = base + 3 * j
              local id = ARGV[at]
              local seq = seen[id]
              o = o + 1
              if seq and seq > n - window then
                out[o] = duplicate(seq, n, r)
              else
                n = n + 1
                r, out[o] = applied(n, r)
                seen[id] = n
                set['i' .. id] = n
                fresh[#fresh + 1] = ARGV[at + 1]
                if ARGV[at + 2] == '1' then
                  if ARGV[pa] ~= '' then set['g'] = ARGV[pa] end
                  if ARGV[pa + 1] ~= '' then set['a'] = ARGV[pa + 1] end
                  if ARGV[pa + 2] ~= '' then set['o'] = ARGV[pa + 2] end
                  if ARGV[pa + 3] ~= '' then set['z'] = ARGV[pa + 3] end
                end
              end
              if ARGV[at + 2] == '1' then pa = pa + 4 end
            end
            if n > n0 then
              local newest = {}
              for j = #fresh, 1, -1 do newest[#newest + 1] = fresh[j] end
              local fields = {'n', n, 'r', r, 'h', history(table.concat(newest), state[3])}
              for f, v in pairs(set) do
                fields[#fields + 1] = f
                fields[#fields + 1] = v
              end
              redis.call('HSET', m, unpack(fields))
              sweep(m, n0, n)
              redis.call('EXPIRE', m, ttl)
            end
          end
          a = pa
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
        var keys = new RedisKey[chunk.Count];
        for (int g = 0; g < chunk.Count; g++)
        {
            keys[g] = SessionLayout.Meta(prefix, interactions[chunk[g][0]].UserId);
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

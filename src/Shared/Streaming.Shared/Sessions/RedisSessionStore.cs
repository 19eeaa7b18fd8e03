using StackExchange.Redis;
using Streaming.Shared.Contracts;
using Streaming.Shared.Online;

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
/// Per-user sessions in Redis, in <see cref="SessionLayout"/> (one hash per user: counters, profile, history,
/// the last served list and the dedup window). One Lua script call applies a chunk of events atomically, grouped
/// per user: a user's state is read once and written once per call, whatever the number of its events; the chunks
/// of a batch are sent pipelined. Thread-safe.
/// </summary>
/// <param name="redis">The connection.</param>
/// <param name="options">Session bounds and the threshold policy.</param>
/// <param name="prefix">Key prefix of every session.</param>
/// <param name="time">The clock of the TTL refresh (<see cref="SessionLayout.TtlRefreshSeconds"/>); the system clock by default.</param>
public sealed class RedisSessionStore(IConnectionMultiplexer redis, SessionStoreOptions options, string prefix = "s", TimeProvider? time = null) : ISessionStore
{
    // Applies groups of events, in order. ARGV: max history, TTL, threshold, every, dedup window, onboarding
    // flag, attribution flag, now (Unix seconds), TTL refresh interval (seconds); then per group (KEYS: the
    // online aggregate hash first, then per group its user's session hash and online record, OnlineLayout): the
    // event count k, three values per event (id, encoded history entry, flags: 1 when profile fields follow, plus
    // 2 for an explicit rating), then four profile fields (gender, age, occupation, zip; '' for absent) per event
    // that has them. The event time and rating are read from the history entry. Returns one integer per event,
    // count * 8 + applied * 4 + due, where due is 1 for adaptation, 2 for onboarding (the first event of a user
    // whose threshold is further away), 0 otherwise. A duplicate of the event that made the user due returns
    // the same due again (onboarding only while the user is still below the threshold), so a crash between
    // applying the event and publishing its request loses nothing.
    //
    // Per group: one HMGET (count, last adaptation, history, last TTL refresh, the last served list, and the group's
    // ids' sequence numbers), then, if anything was applied, one HSET, and an EXPIRE when the last refresh is at least the
    // refresh interval old (SessionLayout.TtlRefreshSeconds: the TTL slides without an EXPIRE per event). An id
    // is a duplicate while its sequence number is within the window of the count (exactly as if the window were
    // trimmed after every event); the fields of ids
    // that left it are deleted every window events (one HGETALL, one HDEL per 1,000), so a session holds at
    // most twice the window. A lone event (the common case: users' events interleave) takes a path with no Lua
    // tables; several events of a user take the general one.
    //
    // Attribution (online evaluation), in the same call and so exactly once: the applied events at or after the
    // user's last served list (read with the session) count for its arm (version and canary window): a hit when the
    // item is in the list, its reciprocal rank, the error of the predicted rating against an explicit one; the user's
    // counters for the arm move, and so do the arm's sums, the per-user hit rate's included (its change, since the
    // sum holds every user's current rate). One HMGET of the counters, one HSET (and an EXPIRE when it creates the
    // arm's counters), a few HINCRBYs, and only for users with a list and applied events after it.
    private const string ApplyScript = """
        local maxHistory = tonumber(ARGV[1])
        local ttl = tonumber(ARGV[2])
        local threshold = tonumber(ARGV[3])
        local every = tonumber(ARGV[4])
        local window = tonumber(ARGV[5])
        local onboard = ARGV[6] == '1' and threshold > 1
        local attribution = ARGV[7] == '1'
        local now = tonumber(ARGV[8])
        local refreshEvery = tonumber(ARGV[9])
        local agg = KEYS[1]
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
        local function stale(refreshed)
          return not refreshed or now - tonumber(refreshed) >= refreshEvery or now < tonumber(refreshed)
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
        -- events: the ARGV index of each applied event's id (its history entry and flags follow it); state: the
        -- session's HMGET, the list's fields (version, window, produced-at, items) at 5 to 8
        local function attribute(rk, events, state)
          if #events == 0 then return end
          if not state[5] or not state[7] then return end
          local served = tonumber(state[7])
          local list = state[8] or ''
          local arm = state[5]
          if state[6] and state[6] ~= '' then arm = arm .. '@' .. state[6] end
          local n, hits, rr, rr2, rated, ae, ae2 = 0, 0, 0, 0, 0, 0, 0
          for _, at in ipairs(events) do
            local entry = ARGV[at + 1]
            if struct.unpack('<i8', entry, 9) >= served then
              n = n + 1
              local item = string.sub(entry, 1, 4)
              for j = 0, math.floor(#list / 8) - 1 do
                if string.sub(list, 8 * j + 1, 8 * j + 4) == item then
                  hits = hits + 1
                  local q = 1 / (j + 1)
                  rr = rr + q
                  rr2 = rr2 + q * q
                  local predicted = struct.unpack('<f', list, 8 * j + 5)
                  if tonumber(ARGV[at + 2]) >= 2 and predicted == predicted then
                    local err = math.abs(predicted - struct.unpack('<f', entry, 5))
                    rated = rated + 1
                    ae = ae + err
                    ae2 = ae2 + err * err
                  end
                  break
                end
              end
            end
          end
          if n == 0 then return end
          local c = redis.call('HMGET', rk, 'e|' .. arm, 'h|' .. arm)
          local e0 = tonumber(c[1]) or 0
          local h0 = tonumber(c[2]) or 0
          local e1, h1 = e0 + n, h0 + hits
          redis.call('HSET', rk, 'e|' .. arm, e1, 'h|' .. arm, h1)
          if e0 == 0 then redis.call('EXPIRE', rk, ttl) end
          local x0 = 0
          if e0 > 0 then x0 = h0 / e0 end
          local x1 = h1 / e1
          local p = arm .. '|'
          redis.call('HINCRBY', agg, p .. 'n', n)
          if e0 == 0 then redis.call('HINCRBY', agg, p .. 'u', 1) end
          if hits > 0 then
            redis.call('HINCRBY', agg, p .. 'h', hits)
            redis.call('HINCRBYFLOAT', agg, p .. 'rr', rr)
            redis.call('HINCRBYFLOAT', agg, p .. 'rr2', rr2)
          end
          if rated > 0 then
            redis.call('HINCRBY', agg, p .. 'r', rated)
            redis.call('HINCRBYFLOAT', agg, p .. 'ae', ae)
            redis.call('HINCRBYFLOAT', agg, p .. 'ae2', ae2)
          end
          if x1 ~= x0 then
            redis.call('HINCRBYFLOAT', agg, p .. 'uh', x1 - x0)
            redis.call('HINCRBYFLOAT', agg, p .. 'uh2', x1 * x1 - x0 * x0)
          end
        end
        local out, o = {}, 0
        local a = 10
        for u = 1, (#KEYS - 1) / 2 do
          local m = KEYS[2 * u]
          local rk = KEYS[2 * u + 1]
          local k = tonumber(ARGV[a])
          local base = a + 1
          local pa = base + 3 * k
          local attributed = {}
          local state
          if k == 1 then
            local id = ARGV[base]
            local idField = 'i' .. id
            local profile = ARGV[base + 2] % 2 == 1
            state = redis.call('HMGET', m, 'n', 'r', 'h', 'x', 'v', 'w', 't', 'k', idField)
            local n = tonumber(state[1]) or 0
            local r = tonumber(state[2]) or -1
            local seq = tonumber(state[9])
            o = o + 1
            if seq and seq > n - window then
              out[o] = duplicate(seq, n, r)
            else
              n = n + 1
              r, out[o] = applied(n, r)
              local refresh = stale(state[4])
              redis.call('HSET', m, 'n', n, 'r', r, 'h', history(ARGV[base + 1], state[3]), idField, n, 'x', refresh and now or state[4])
              if profile then
                if ARGV[pa] ~= '' then redis.call('HSET', m, 'g', ARGV[pa]) end
                if ARGV[pa + 1] ~= '' then redis.call('HSET', m, 'a', ARGV[pa + 1]) end
                if ARGV[pa + 2] ~= '' then redis.call('HSET', m, 'o', ARGV[pa + 2]) end
                if ARGV[pa + 3] ~= '' then redis.call('HSET', m, 'z', ARGV[pa + 3]) end
              end
              sweep(m, n - 1, n)
              if refresh then redis.call('EXPIRE', m, ttl) end
              if attribution then attributed[1] = base end
            end
            if profile then pa = pa + 4 end
          else
            local read = {'n', 'r', 'h', 'x', 'v', 'w', 't', 'k'}
            for j = 0, k - 1 do read[9 + j] = 'i' .. ARGV[base + 3 * j] end
            state = redis.call('HMGET', m, unpack(read))
            local n = tonumber(state[1]) or 0
            local r = tonumber(state[2]) or -1
            local n0 = n
            local seen = {}
            for j = 0, k - 1 do
              if state[9 + j] then seen[ARGV[base + 3 * j]] = tonumber(state[9 + j]) end
            end
            local set, fresh = {}, {}
            for j = 0, k - 1 do
              local at = base + 3 * j
              local id = ARGV[at]
              local seq = seen[id]
              local profile = ARGV[at + 2] % 2 == 1
              o = o + 1
              if seq and seq > n - window then
                out[o] = duplicate(seq, n, r)
              else
                n = n + 1
                r, out[o] = applied(n, r)
                seen[id] = n
                set['i' .. id] = n
                fresh[#fresh + 1] = ARGV[at + 1]
                if attribution then attributed[#attributed + 1] = at end
                if profile then
                  if ARGV[pa] ~= '' then set['g'] = ARGV[pa] end
                  if ARGV[pa + 1] ~= '' then set['a'] = ARGV[pa + 1] end
                  if ARGV[pa + 2] ~= '' then set['o'] = ARGV[pa + 2] end
                  if ARGV[pa + 3] ~= '' then set['z'] = ARGV[pa + 3] end
                end
              end
              if profile then pa = pa + 4 end
            end
            if n > n0 then
              local newest = {}
              for j = #fresh, 1, -1 do newest[#newest + 1] = fresh[j] end
              local refresh = stale(state[4])
              local fields = {'n', n, 'r', r, 'h', history(table.concat(newest), state[3]), 'x', refresh and now or state[4]}
              for f, v in pairs(set) do
                fields[#fields + 1] = f
                fields[#fields + 1] = v
              end
              redis.call('HSET', m, unpack(fields))
              sweep(m, n0, n)
              if refresh then redis.call('EXPIRE', m, ttl) end
            end
          end
          if attribution then attribute(rk, attributed, state) end
          a = pa
        end
        return out
        """;

    // Events per script call. A call costs one script dispatch, so a few hundred events share it; more would
    // hold Redis (single-threaded) for longer per call. It also bounds a group's ZMSCORE / ZADD arguments well
    // under Lua's unpack limit (8,000). Under Redis Cluster a script's keys must share a slot, so events are
    // first bucketed by their user's slot; on a single node every event is in one bucket.
    private const int ChunkSize = 256;

    // The flags argument of an event, as the script reads it: 1 when profile fields follow, plus 2 for an explicit rating.
    private static readonly RedisValue[] EventFlags = ["0", "1", "2", "3"];

    private readonly TimeProvider clock = time ?? TimeProvider.System;

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
                var aggregate = AggregateKey(interactions[chunk[0][0]].UserId);
                calls.Add((chunk.SelectMany(g => g).ToList(), db.ScriptEvaluateAsync(ApplyScript, Keys(aggregate, interactions, chunk), Arguments(interactions, chunk))));
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

    // Stores a user's last served list in the session hash (KEYS[1]) unless a newer one is there already (lists can
    // arrive out of order, and a redelivered one writes the same values again), and sets the TTL of the session and
    // of the user's counters (KEYS[2]; they stay: they are per arm) again: a list is activity.
    private const string ServedScript = """
        local t = tonumber(redis.call('HGET', KEYS[1], 't'))
        if t and t > tonumber(ARGV[3]) then return 0 end
        redis.call('HSET', KEYS[1], 'v', ARGV[1], 'w', ARGV[2], 't', ARGV[3], 'k', ARGV[4])
        redis.call('EXPIRE', KEYS[1], ARGV[5])
        redis.call('EXPIRE', KEYS[2], ARGV[5])
        return 1
        """;

    /// <summary>Stores each user's last served list in its session (pipelined: one script call per list, on the user's keys); an older list never replaces a newer one.</summary>
    /// <exception cref="RedisException">Redis could not be reached or refused the write (the caller retries).</exception>
    public async Task RecordServedAsync(IReadOnlyList<ServedList> lists)
    {
        ArgumentNullException.ThrowIfNull(lists);
        var db = redis.GetDatabase();
        var writes = lists.Select(l => db.ScriptEvaluateAsync(ServedScript, [SessionLayout.Meta(prefix, l.UserId), OnlineLayout.User(prefix, l.UserId)],
            [l.Version, l.Window ?? "", l.ProducedAt.ToUnixTimeMilliseconds(), OnlineLayout.EncodeList(l.Items), options.TtlSeconds])).ToList();
        await Task.WhenAll(writes).ConfigureAwait(false);
    }

    /// <summary>Every arm's online sums (<see cref="OnlineTallies"/>).</summary>
    public Task<IReadOnlyList<ArmTally>> ReadTalliesAsync() => OnlineTallies.ReadAsync(redis, prefix);

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

    /// <summary>
    /// The online aggregate hash that <paramref name="userId"/>'s outcomes go to: the one key on a single node; on a
    /// cluster the one of the user's slot, so a script call (or a user's transaction) touches one slot only.
    /// </summary>
    internal RedisKey AggregateKey(string userId) =>
        OnlineLayout.Aggregate(prefix, cluster.Value ? OnlineLayout.SlotTag(redis.HashSlot(SessionLayout.Meta(prefix, userId))) : null);

    private RedisKey[] Keys(RedisKey aggregate, IReadOnlyList<Interaction> interactions, List<List<int>> chunk)
    {
        var keys = new RedisKey[1 + (2 * chunk.Count)];
        keys[0] = aggregate;
        for (int g = 0; g < chunk.Count; g++)
        {
            string user = interactions[chunk[g][0]].UserId;
            keys[1 + (2 * g)] = SessionLayout.Meta(prefix, user);
            keys[2 + (2 * g)] = OnlineLayout.User(prefix, user);
        }

        return keys;
    }

    private RedisValue[] Arguments(IReadOnlyList<Interaction> interactions, List<List<int>> chunk)
    {
        var args = new List<RedisValue>(9 + chunk.Count + (3 * ChunkSize))
        {
            options.MaxHistory, options.TtlSeconds, options.AdaptThreshold, options.AdaptEvery, options.DedupWindow, options.Onboarding ? "1" : "0", options.OnlineEvaluation ? "1" : "0",
            clock.GetUtcNow().ToUnixTimeSeconds(), SessionLayout.TtlRefreshSeconds(options.TtlSeconds),
        };
        foreach (var group in chunk)
        {
            args.Add(group.Count);
            foreach (int i in group)
            {
                var e = interactions[i];
                args.Add(e.EventId);
                args.Add(SessionLayout.Encode(e));
                args.Add(EventFlags[(e.Profile is null ? 0 : 1) + (e.Explicit ? 2 : 0)]);
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

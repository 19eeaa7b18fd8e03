using StackExchange.Redis;
using Streaming.Shared.Contracts;
using Streaming.Shared.Online;

namespace Streaming.Shared.Sessions;

/// <summary>
/// The same sessions (<see cref="SessionLayout"/>) and the same semantics as <see cref="RedisSessionStore"/>,
/// with plain pipelined commands instead of a script: the simple alternative that <c>streaming bench ingest</c>
/// measures next to the script, so the choice of the script rests on a number. Every user's state, last served list
/// and the batch's ids' sequence numbers are read in one pipelined round (<c>HMGET</c>; the counters of the list's
/// arm for a user with a list, and an <c>HGETALL</c> for a session whose window is swept), the outcome is decided
/// here, and each user who gained an event is written in one optimistic transaction (WATCH on the count through a
/// StackExchange.Redis condition, then MULTI/EXEC), so the write is all or nothing and a concurrent writer (a consumer that lost its partition but
/// not yet its batch) makes it fail and be redone from a fresh read instead of double-applying. Thread-safe.
/// </summary>
public sealed class RedisPipelinedSessionStore(IConnectionMultiplexer redis, SessionStoreOptions options, string prefix = "s", TimeProvider? time = null) : ISessionStore
{
    private readonly RedisSessionStore reader = new(redis, options, prefix, time);
    private readonly TimeProvider clock = time ?? TimeProvider.System;

    /// <summary>Applies interactions in order per user; returns one result per interaction.</summary>
    /// <exception cref="RedisException">Redis could not be reached or refused the write (the caller retries).</exception>
    public async Task<ApplyResult[]> ApplyAsync(IReadOnlyList<Interaction> interactions)
    {
        ArgumentNullException.ThrowIfNull(interactions);
        var db = redis.GetDatabase();
        var results = new ApplyResult[interactions.Count];
        var pending = UserGroups.Buckets(interactions, slotOf: null).SelectMany(b => b).ToList();
        while (pending.Count > 0)
        {
            var reads = new Task<RedisValue[]>[pending.Count];
            for (int g = 0; g < pending.Count; g++)
            {
                RedisValue[] fields = [SessionLayout.Count, SessionLayout.AdaptedAt, SessionLayout.History, SessionLayout.TtlRefreshedAt, .. OnlineLayout.ListFields, .. pending[g].Select(i => SessionLayout.IdField(interactions[i].EventId))];
                reads[g] = db.HashGetAsync(Key(interactions, pending[g]), fields);
            }

            var writes = new List<(List<int> Group, Task<bool?> Committed)>();
            for (int g = 0; g < pending.Count; g++)
            {
                writes.Add((pending[g], WriteAsync(db, interactions, pending[g], await reads[g].ConfigureAwait(false), results)));
            }

            var retry = new List<List<int>>();
            foreach (var (group, committed) in writes)
            {
                if (await committed.ConfigureAwait(false) == false)
                {
                    retry.Add(group);   // another writer changed the session since it was read: decide again
                }
            }

            pending = retry;
        }

        return results;
    }

    /// <summary>Loads sessions (pipelined: one HMGET per user); users without a session are left out.</summary>
    public Task<IReadOnlyList<StoredSession>> LoadAsync(IReadOnlyList<string> userIds) => reader.LoadAsync(userIds);

    /// <summary>As <see cref="RedisSessionStore.RecordServedAsync"/> (the list records are not what this store is about).</summary>
    public Task RecordServedAsync(IReadOnlyList<ServedList> lists) => reader.RecordServedAsync(lists);

    /// <summary>Every arm's online sums.</summary>
    public Task<IReadOnlyList<ArmTally>> ReadTalliesAsync() => reader.ReadTalliesAsync();

    private RedisKey Key(IReadOnlyList<Interaction> interactions, List<int> group) => SessionLayout.Meta(prefix, interactions[group[0]].UserId);

    // A session's read: count, last adaptation, history, last TTL refresh, then the list's fields, then the group's
    // ids' sequence numbers.
    private const int ListAt = 4;
    private static readonly int IdsAt = ListAt + OnlineLayout.ListFields.Length;

    /// <summary>
    /// Decides one user's events from the state read and writes them in one transaction: whether it committed,
    /// or null when there was nothing to write. Runs synchronously up to the commit except when the window is
    /// swept (every window events), which reads the session's fields first, and for a user with a list, whose
    /// counters are read first.
    /// </summary>
    private async Task<bool?> WriteAsync(IDatabase db, IReadOnlyList<Interaction> interactions, List<int> group, RedisValue[] state, ApplyResult[] results)
    {
        bool onboard = options.Onboarding && options.AdaptThreshold > 1;
        int window = options.DedupWindow;
        long n0 = state[0].IsNull ? 0 : (long)state[0], r = state[1].IsNull ? -1 : (long)state[1];
        long n = n0;
        var seen = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int j = 0; j < group.Count; j++)
        {
            if (!state[IdsAt + j].IsNull)
            {
                seen[interactions[group[j]].EventId] = (long)state[IdsAt + j];
            }
        }

        var changes = new Dictionary<RedisValue, RedisValue>();
        var fresh = new List<byte[]>();
        var attributed = new List<AttributedEvent>();
        foreach (int i in group)
        {
            var e = interactions[i];
            if (seen.TryGetValue(e.EventId, out long seq) && seq > n - window)
            {
                bool adapt = seq == r;
                results[i] = new ApplyResult(false, n, adapt, !adapt && onboard && seq == 1 && n < options.AdaptThreshold);
                continue;
            }

            n++;
            seen[e.EventId] = n;
            changes[SessionLayout.IdField(e.EventId)] = n;
            fresh.Add(SessionLayout.Encode(e));
            attributed.Add(AttributedEvent.From(e));
            if (e.Profile is { } p)
            {
                SetIfPresent(changes, SessionLayout.Gender, p.Gender);
                SetIfPresent(changes, SessionLayout.Age, p.Age);
                SetIfPresent(changes, SessionLayout.Occupation, p.Occupation);
                SetIfPresent(changes, SessionLayout.Zip, p.Zip);
            }

            if (n >= options.AdaptThreshold && (r < 0 || n - r >= options.AdaptEvery))
            {
                r = n;
                results[i] = new ApplyResult(true, n, AdaptNow: true);
            }
            else
            {
                results[i] = new ApplyResult(true, n, AdaptNow: false, OnboardNow: onboard && n == 1);
            }
        }

        if (n == n0)
        {
            return null;
        }

        var key = Key(interactions, group);
        RedisValue[] stale = [];
        if (SessionLayout.Sweeps(n0, n, window))
        {
            // The ids that left the window, as stored (this batch's own are all newer); the transaction's
            // condition on the count makes this read part of what it checks.
            stale = [.. (await db.HashGetAllAsync(key).ConfigureAwait(false))
                .Where(f => SessionLayout.IsIdField(f.Name) && !changes.ContainsKey(f.Name) && (long)f.Value <= n - window)
                .Select(f => f.Name)];
        }

        long now = clock.GetUtcNow().ToUnixTimeSeconds();
        bool refresh = SessionLayout.TtlDue(state[3], now, options.TtlSeconds);
        if (refresh)
        {
            changes[SessionLayout.TtlRefreshedAt] = now;
        }

        string user = interactions[group[0]].UserId;
        var list = options.OnlineEvaluation ? UserListRecord.From(state.AsSpan(ListAt, OnlineLayout.ListFields.Length)) : null;
        if (list is not null)
        {
            // Read before the transaction, under its condition on the count like the rest: only this user's writes move them.
            list = list.WithCounters(await db.HashGetAsync(OnlineLayout.User(prefix, user), list.CounterFields).ConfigureAwait(false));
        }

        var transaction = db.CreateTransaction();
        transaction.AddCondition(n0 == 0 ? Condition.HashNotExists(key, SessionLayout.Count) : Condition.HashEqual(key, SessionLayout.Count, n0));
        _ = transaction.HashSetAsync(key, [new(SessionLayout.Count, n), new(SessionLayout.AdaptedAt, r), new(SessionLayout.History, History(fresh, state[2])), .. changes.Select(c => new HashEntry(c.Key, c.Value))]);
        if (stale.Length > 0)
        {
            _ = transaction.HashDeleteAsync(key, stale);
        }

        if (refresh)
        {
            _ = transaction.KeyExpireAsync(key, TimeSpan.FromSeconds(options.TtlSeconds));
        }

        if (Attribution.Attribute(list, attributed) is { } outcome)
        {
            // In the same transaction as the session: the outcomes count exactly when the events are applied.
            var counters = OnlineLayout.User(prefix, user);
            _ = transaction.HashSetAsync(counters, [new("e|" + outcome.Arm, outcome.Events), new("h|" + outcome.Arm, outcome.Hits)]);
            if (list!.Events == 0)
            {
                _ = transaction.KeyExpireAsync(counters, TimeSpan.FromSeconds(options.TtlSeconds));   // as the script: the arm's counters are new
            }

            var aggregate = reader.AggregateKey(user);
            for (int stat = 0; stat < outcome.Increments.Length; stat++)
            {
                if (outcome.Increments[stat] != 0)
                {
                    _ = transaction.HashIncrementAsync(aggregate, $"{outcome.Arm}|{OnlineLayout.Stats[stat]}", outcome.Increments[stat]);
                }
            }
        }

        return await transaction.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>The new entries (newest first) before the stored history, cut to the bound.</summary>
    private byte[] History(List<byte[]> fresh, RedisValue stored)
    {
        var old = stored.IsNull ? ReadOnlySpan<byte>.Empty : ((ReadOnlyMemory<byte>)stored).Span;
        int bytes = Math.Min(options.MaxHistory * SessionLayout.EntryBytes, (fresh.Count * SessionLayout.EntryBytes) + old.Length);
        var history = new byte[bytes];
        int at = 0;
        for (int j = fresh.Count - 1; j >= 0 && at < bytes; j--, at += SessionLayout.EntryBytes)
        {
            fresh[j].CopyTo(history, at);
        }

        if (at < bytes)
        {
            old[..(bytes - at)].CopyTo(history.AsSpan(at));
        }

        return history;
    }

    private static void SetIfPresent(Dictionary<RedisValue, RedisValue> changes, RedisValue field, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            changes[field] = value;
        }
    }
}

using StackExchange.Redis;
using Streaming.Shared.Contracts;

namespace Streaming.Shared.Sessions;

/// <summary>
/// The same sessions (<see cref="SessionLayout"/>) and the same semantics as <see cref="RedisSessionStore"/>,
/// with plain pipelined commands instead of a script: the simple alternative that <c>streaming bench ingest</c>
/// measures next to the script, so the choice of the script rests on a number. Two round trips per batch:
/// every user's state and event ids' sequence numbers are read (<c>HMGET</c>, <c>ZMSCORE</c>), the outcome is
/// decided here, and each user who gained an event is written in one optimistic transaction (WATCH on the
/// count through a StackExchange.Redis condition, then MULTI/EXEC), so the write is all or nothing and a
/// concurrent writer (a consumer that lost its partition but not yet its batch) makes it fail and be redone
/// from a fresh read instead of double-applying. Thread-safe.
/// </summary>
public sealed class RedisPipelinedSessionStore(IConnectionMultiplexer redis, SessionStoreOptions options, string prefix = "s") : ISessionStore
{
    private static readonly RedisValue[] StateFields = [SessionLayout.Count, SessionLayout.AdaptedAt, SessionLayout.History];

    private readonly RedisSessionStore reader = new(redis, options, prefix);

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
            var reads = new (Task<RedisValue[]> State, Task<double?[]> Seqs)[pending.Count];
            for (int g = 0; g < pending.Count; g++)
            {
                string user = interactions[pending[g][0]].UserId;
                var ids = pending[g].Select(i => (RedisValue)interactions[i].EventId).ToArray();
                reads[g] = (db.HashGetAsync(SessionLayout.Meta(prefix, user), StateFields), db.SortedSetScoresAsync(SessionLayout.EventIds(prefix, user), ids));
            }

            var writes = new List<(List<int> Group, Task<bool> Committed)>();
            for (int g = 0; g < pending.Count; g++)
            {
                if (Write(db, interactions, pending[g], await reads[g].State.ConfigureAwait(false), await reads[g].Seqs.ConfigureAwait(false), results) is { } committed)
                {
                    writes.Add((pending[g], committed));
                }
            }

            var retry = new List<List<int>>();
            foreach (var (group, committed) in writes)
            {
                if (!await committed.ConfigureAwait(false))
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

    /// <summary>Decides one user's events from the state read; returns the commit of its transaction, or null when nothing is written.</summary>
    private Task<bool>? Write(IDatabase db, IReadOnlyList<Interaction> interactions, List<int> group, RedisValue[] state, double?[] seqs, ApplyResult[] results)
    {
        bool onboard = options.Onboarding && options.AdaptThreshold > 1;
        long n0 = state[0].IsNull ? 0 : (long)state[0], r0 = state[1].IsNull ? -1 : (long)state[1];
        long n = n0, r = r0;
        var seen = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int j = 0; j < group.Count; j++)
        {
            if (seqs[j] is { } s)
            {
                seen[interactions[group[j]].EventId] = (long)s;
            }
        }

        var added = new List<SortedSetEntry>();
        var fresh = new List<byte[]>();
        string? gender = null, age = null, occupation = null, zip = null;
        foreach (int i in group)
        {
            var e = interactions[i];
            if (seen.TryGetValue(e.EventId, out long seq) && seq > n - options.DedupWindow)
            {
                bool adapt = seq == r;
                results[i] = new ApplyResult(false, n, adapt, !adapt && onboard && seq == 1 && n < options.AdaptThreshold);
                continue;
            }

            n++;
            seen[e.EventId] = n;
            added.Add(new SortedSetEntry(e.EventId, n));
            fresh.Add(SessionLayout.Encode(e));
            if (e.Profile is { } p)
            {
                gender = string.IsNullOrEmpty(p.Gender) ? gender : p.Gender;
                age = string.IsNullOrEmpty(p.Age) ? age : p.Age;
                occupation = string.IsNullOrEmpty(p.Occupation) ? occupation : p.Occupation;
                zip = string.IsNullOrEmpty(p.Zip) ? zip : p.Zip;
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

        string user = interactions[group[0]].UserId;
        RedisKey meta = SessionLayout.Meta(prefix, user), ids = SessionLayout.EventIds(prefix, user);
        var fields = new List<HashEntry> { new(SessionLayout.Count, n), new(SessionLayout.History, History(fresh, state[2])) };
        AddIf(fields, SessionLayout.AdaptedAt, r != r0 ? r : RedisValue.Null);
        AddIf(fields, SessionLayout.Gender, gender);
        AddIf(fields, SessionLayout.Age, age);
        AddIf(fields, SessionLayout.Occupation, occupation);
        AddIf(fields, SessionLayout.Zip, zip);

        var ttl = TimeSpan.FromSeconds(options.TtlSeconds);
        var transaction = db.CreateTransaction();
        transaction.AddCondition(n0 == 0 ? Condition.HashNotExists(meta, SessionLayout.Count) : Condition.HashEqual(meta, SessionLayout.Count, n0));
        _ = transaction.SortedSetAddAsync(ids, [.. added]);
        if (n > options.DedupWindow)
        {
            _ = transaction.SortedSetRemoveRangeByScoreAsync(ids, double.NegativeInfinity, n - options.DedupWindow);
        }

        _ = transaction.HashSetAsync(meta, [.. fields]);
        _ = transaction.KeyExpireAsync(meta, ttl);
        _ = transaction.KeyExpireAsync(ids, ttl);
        return transaction.ExecuteAsync();
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

    private static void AddIf(List<HashEntry> fields, RedisValue name, RedisValue value)
    {
        if (!value.IsNull)
        {
            fields.Add(new HashEntry(name, value));
        }
    }
}

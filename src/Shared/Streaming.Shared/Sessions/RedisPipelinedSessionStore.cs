using StackExchange.Redis;
using Streaming.Shared.Contracts;

namespace Streaming.Shared.Sessions;

/// <summary>
/// The same sessions (<see cref="SessionLayout"/>) and the same semantics as <see cref="RedisSessionStore"/>,
/// with plain pipelined commands instead of a script: the simple alternative that <c>streaming bench ingest</c>
/// measures next to the script, so the choice of the script rests on a number. Every user's state and the
/// batch's ids' sequence numbers are read in one pipelined round (<c>HMGET</c>; a second one for the ring slots
/// of sessions whose dedup window is full), the outcome is decided here, and each user who gained an event is
/// written in one optimistic transaction (WATCH on the count through a StackExchange.Redis condition, then
/// MULTI/EXEC), so the write is all or nothing and a concurrent writer (a consumer that lost its partition but
/// not yet its batch) makes it fail and be redone from a fresh read instead of double-applying. Thread-safe.
/// </summary>
public sealed class RedisPipelinedSessionStore(IConnectionMultiplexer redis, SessionStoreOptions options, string prefix = "s") : ISessionStore
{
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
            var reads = new Task<RedisValue[]>[pending.Count];
            for (int g = 0; g < pending.Count; g++)
            {
                RedisValue[] fields = [SessionLayout.Count, SessionLayout.AdaptedAt, SessionLayout.History, .. pending[g].Select(i => SessionLayout.IdField(interactions[i].EventId))];
                reads[g] = db.HashGetAsync(Key(interactions, pending[g]), fields);
            }

            // Sessions whose window is full: the ids in the ring slots the new events may reuse.
            var states = new RedisValue[pending.Count][];
            var rings = new Task<RedisValue[]>?[pending.Count];
            for (int g = 0; g < pending.Count; g++)
            {
                states[g] = await reads[g].ConfigureAwait(false);
                long n0 = Count(states[g]);
                if (n0 + pending[g].Count > options.DedupWindow)
                {
                    rings[g] = db.HashGetAsync(Key(interactions, pending[g]), [.. RingSequences(n0, pending[g].Count).Select(s => SessionLayout.SlotField(s, options.DedupWindow))]);
                }
            }

            var writes = new List<(List<int> Group, Task<bool> Committed)>();
            for (int g = 0; g < pending.Count; g++)
            {
                var ring = rings[g] is { } read ? await read.ConfigureAwait(false) : [];
                if (Write(db, interactions, pending[g], states[g], ring, results) is { } committed)
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

    private RedisKey Key(IReadOnlyList<Interaction> interactions, List<int> group) => SessionLayout.Meta(prefix, interactions[group[0]].UserId);

    private static long Count(RedisValue[] state) => state[0].IsNull ? 0 : (long)state[0];

    // The sequence numbers whose ring slots k new events after n0 may reuse (those past the first window).
    private IEnumerable<long> RingSequences(long n0, int k)
    {
        for (long s = Math.Max(n0 + 1, options.DedupWindow + 1); s <= n0 + k; s++)
        {
            yield return s;
        }
    }

    /// <summary>Decides one user's events from the state read; returns the commit of its transaction, or null when nothing is written.</summary>
    private Task<bool>? Write(IDatabase db, IReadOnlyList<Interaction> interactions, List<int> group, RedisValue[] state, RedisValue[] ringRead, ApplyResult[] results)
    {
        bool onboard = options.Onboarding && options.AdaptThreshold > 1;
        int window = options.DedupWindow;
        long n0 = Count(state), r = state[1].IsNull ? -1 : (long)state[1];
        long n = n0;
        var seen = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int j = 0; j < group.Count; j++)
        {
            if (!state[3 + j].IsNull)
            {
                seen[interactions[group[j]].EventId] = (long)state[3 + j];
            }
        }

        var ring = new Dictionary<long, string>();
        long first = Math.Max(n0 + 1, window + 1);
        for (int j = 0; j < ringRead.Length; j++)
        {
            if (!ringRead[j].IsNull)
            {
                ring[(first + j) % window] = ringRead[j].ToString();
            }
        }

        // Field name -> value to set, or null to delete; the last change of a field wins.
        var changes = new Dictionary<RedisValue, RedisValue?>();
        var fresh = new List<byte[]>();
        foreach (int i in group)
        {
            var e = interactions[i];
            if (seen.TryGetValue(e.EventId, out long seq))
            {
                bool adapt = seq == r;
                results[i] = new ApplyResult(false, n, adapt, !adapt && onboard && seq == 1 && n < options.AdaptThreshold);
                continue;
            }

            n++;
            long slot = n % window;
            if (ring.TryGetValue(slot, out string? evicted))
            {
                seen.Remove(evicted);   // the id of event n - window leaves the window
                changes[SessionLayout.IdField(evicted)] = null;
            }

            ring[slot] = e.EventId;
            seen[e.EventId] = n;
            changes[SessionLayout.IdField(e.EventId)] = n;
            changes[SessionLayout.SlotField(n, window)] = e.EventId;
            fresh.Add(SessionLayout.Encode(e));
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
        var set = new List<HashEntry> { new(SessionLayout.Count, n), new(SessionLayout.AdaptedAt, r), new(SessionLayout.History, History(fresh, state[2])) };
        set.AddRange(changes.Where(c => c.Value is not null).Select(c => new HashEntry(c.Key, c.Value!.Value)));
        var deleted = changes.Where(c => c.Value is null).Select(c => c.Key).ToArray();

        var transaction = db.CreateTransaction();
        transaction.AddCondition(n0 == 0 ? Condition.HashNotExists(key, SessionLayout.Count) : Condition.HashEqual(key, SessionLayout.Count, n0));
        _ = transaction.HashSetAsync(key, [.. set]);
        if (deleted.Length > 0)
        {
            _ = transaction.HashDeleteAsync(key, deleted);
        }

        _ = transaction.KeyExpireAsync(key, TimeSpan.FromSeconds(options.TtlSeconds));
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

    private static void SetIfPresent(Dictionary<RedisValue, RedisValue?> changes, RedisValue field, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            changes[field] = value;
        }
    }
}

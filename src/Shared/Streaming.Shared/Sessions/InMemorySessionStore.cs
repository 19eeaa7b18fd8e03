using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Shared.Online;

namespace Streaming.Shared.Sessions;

/// <summary>
/// <see cref="ISessionStore"/> in process memory, with the same semantics as <see cref="RedisSessionStore"/>'s
/// Lua script (event-id dedup window, bounded newest-first history, latest profile fields, TTL, threshold N
/// then every K, onboarding at the first event, re-requests on redelivered triggers). For the embedded demo
/// where Redis cannot be had: sessions die with the process, and services in other processes cannot see them.
/// </summary>
public sealed class InMemorySessionStore(SessionStoreOptions options, TimeProvider time) : ISessionStore
{
    private readonly ConcurrentDictionary<string, Session> sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ServedRecord> served = new(StringComparer.Ordinal);
    private readonly Dictionary<string, double[]> tallies = new(StringComparer.Ordinal);

    public Task<ApplyResult[]> ApplyAsync(IReadOnlyList<Interaction> interactions)
    {
        ArgumentNullException.ThrowIfNull(interactions);
        var results = new ApplyResult[interactions.Count];
        var now = time.GetUtcNow();
        for (int i = 0; i < interactions.Count; i++)
        {
            var e = interactions[i];
            var session = Live(e.UserId, now) ?? sessions.GetOrAdd(e.UserId, _ => new Session());
            lock (session)
            {
                results[i] = Apply(session, e, now);
            }

            if (results[i].Applied && options.OnlineEvaluation)
            {
                Attribute(e, now);
            }
        }

        return Task.FromResult(results);
    }

    public Task RecordServedAsync(IReadOnlyList<ServedList> lists)
    {
        ArgumentNullException.ThrowIfNull(lists);
        var expires = time.GetUtcNow().AddSeconds(options.TtlSeconds);
        foreach (var list in lists)
        {
            var record = served.GetOrAdd(list.UserId, _ => new ServedRecord());
            lock (record)
            {
                if (record.List is null || record.List.ProducedAt <= list.ProducedAt)
                {
                    record.List = list with { Items = [.. list.Items.Take(OnlineLayout.MaxItems)] };
                }

                record.ExpiresAt = expires;
            }
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<ArmTally>> ReadTalliesAsync()
    {
        lock (tallies)
        {
            return Task.FromResult(OnlineTallies.Tallies(tallies.ToDictionary(t => t.Key, t => t.Value.ToArray(), StringComparer.Ordinal)));
        }
    }

    // Event by event, as the script does it per user: the same figures.
    private void Attribute(Interaction e, DateTimeOffset now)
    {
        if (!served.TryGetValue(e.UserId, out var record))
        {
            return;
        }

        lock (record)
        {
            if (record.List is not { } list || record.ExpiresAt <= now)
            {
                return;
            }

            var counts = record.Counts.GetValueOrDefault(list.Arm);
            var read = new UserListRecord(list.Arm, list.ProducedAt.ToUnixTimeMilliseconds(), [.. list.Items.Select(i => (i.ItemId, i.PredictedRating ?? float.NaN))], counts.Events, counts.Hits);
            if (Attribution.Attribute(read, [AttributedEvent.From(e)]) is not { } outcome)
            {
                return;
            }

            record.Counts[list.Arm] = (outcome.Events, outcome.Hits);
            lock (tallies)
            {
                if (!tallies.TryGetValue(outcome.Arm, out var sums))
                {
                    tallies[outcome.Arm] = sums = new double[OnlineLayout.Stats.Length];
                }

                for (int stat = 0; stat < sums.Length; stat++)
                {
                    sums[stat] += outcome.Increments[stat];
                }
            }
        }
    }

    private sealed class ServedRecord
    {
        public ServedList? List { get; set; }

        public DateTimeOffset ExpiresAt { get; set; }

        public Dictionary<string, (long Events, long Hits)> Counts { get; } = new(StringComparer.Ordinal);
    }

    public Task<IReadOnlyList<StoredSession>> LoadAsync(IReadOnlyList<string> userIds)
    {
        ArgumentNullException.ThrowIfNull(userIds);
        var now = time.GetUtcNow();
        var loaded = new List<StoredSession>(userIds.Count);
        foreach (string user in userIds)
        {
            if (Live(user, now) is { } session)
            {
                lock (session)
                {
                    loaded.Add(new StoredSession(user, session.Profile, session.Count, [.. session.History]));
                }
            }
        }

        return Task.FromResult<IReadOnlyList<StoredSession>>(loaded);
    }

    private Session? Live(string user, DateTimeOffset now)
    {
        if (sessions.TryGetValue(user, out var session) && session.ExpiresAt <= now)
        {
            sessions.TryRemove(new KeyValuePair<string, Session>(user, session));
            return null;
        }

        return session;
    }

    private ApplyResult Apply(Session session, Interaction e, DateTimeOffset now)
    {
        bool onboard = options.Onboarding && options.AdaptThreshold > 1;
        if (session.Seen.TryGetValue(e.EventId, out long seq))
        {
            bool adapt = seq == session.LastAdaptedAt;
            return new ApplyResult(false, session.Count, adapt, !adapt && onboard && seq == 1 && session.Count < options.AdaptThreshold);
        }

        long n = ++session.Count;
        session.Seen[e.EventId] = n;
        session.Order.Enqueue((e.EventId, n));
        while (session.Order.TryPeek(out var oldest) && oldest.Seq <= n - options.DedupWindow)
        {
            session.Order.Dequeue();
            session.Seen.Remove(oldest.EventId);
        }

        session.History.AddFirst(new StoredInteraction(e.ItemId, e.Rating, e.EventTime.ToUnixTimeMilliseconds()));
        while (session.History.Count > options.MaxHistory)
        {
            session.History.RemoveLast();
        }

        if (e.Profile is { } p)
        {
            var q = session.Profile;
            session.Profile = new UserProfile(
                string.IsNullOrEmpty(p.Gender) ? q.Gender : p.Gender,
                string.IsNullOrEmpty(p.Age) ? q.Age : p.Age,
                string.IsNullOrEmpty(p.Occupation) ? q.Occupation : p.Occupation,
                string.IsNullOrEmpty(p.Zip) ? q.Zip : p.Zip);
        }

        session.ExpiresAt = now.AddSeconds(options.TtlSeconds);
        if (n >= options.AdaptThreshold && (session.LastAdaptedAt < 0 || n - session.LastAdaptedAt >= options.AdaptEvery))
        {
            session.LastAdaptedAt = n;
            return new ApplyResult(true, n, AdaptNow: true);
        }

        return new ApplyResult(true, n, AdaptNow: false, OnboardNow: onboard && n == 1);
    }

    private sealed class Session
    {
        public long Count { get; set; }

        public long LastAdaptedAt { get; set; } = -1;

        public UserProfile Profile { get; set; } = UserProfile.Unknown;

        public DateTimeOffset ExpiresAt { get; set; } = DateTimeOffset.MaxValue;

        public Dictionary<string, long> Seen { get; } = new(StringComparer.Ordinal);

        public Queue<(string EventId, long Seq)> Order { get; } = new();

        public LinkedList<StoredInteraction> History { get; } = new();
    }
}

/// <summary><see cref="IFastWeightCache"/> in process memory (entries expire after the TTL), for the embedded demo without Redis.</summary>
public sealed class InMemoryFastWeightCache(TimeSpan ttl, TimeProvider time) : IFastWeightCache
{
    private readonly ConcurrentDictionary<string, (CachedFastWeights Weights, DateTimeOffset ExpiresAt)> entries = new(StringComparer.Ordinal);

    public Task SetManyAsync(IReadOnlyList<(string UserId, CachedFastWeights Weights)> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var expires = time.GetUtcNow() + ttl;
        foreach (var (user, weights) in entries)
        {
            this.entries[user] = (weights, expires);
        }

        return Task.CompletedTask;
    }

    public Task<CachedFastWeights?[]> GetManyAsync(IReadOnlyList<string> userIds)
    {
        ArgumentNullException.ThrowIfNull(userIds);
        var now = time.GetUtcNow();
        return Task.FromResult(userIds.Select(u => entries.TryGetValue(u, out var e) && e.ExpiresAt > now ? e.Weights : null).ToArray());
    }

    public async IAsyncEnumerable<IReadOnlyList<(string UserId, string ModelVersion, long Interactions)>> ScanAsync(int pageSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var page in entries.Where(e => e.Value.ExpiresAt > now).Chunk(pageSize))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return [.. page.Select(e => (e.Key, e.Value.Weights.ModelVersion, e.Value.Weights.Interactions))];
            await Task.Yield();
        }
    }
}

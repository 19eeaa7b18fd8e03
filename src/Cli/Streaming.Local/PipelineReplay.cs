using Confluent.Kafka;
using Streaming.Ingest;
using Streaming.Shared.Contracts;
using Streaming.Shared.Evaluation;

namespace Streaming.Local;

/// <summary>Latency percentiles of a set of recommendations, in milliseconds.</summary>
public sealed record LatencySummary(int Count, double P50Ms, double P95Ms, double P99Ms, double MaxMs)
{
    public static LatencySummary Of(IEnumerable<TimeSpan> latencies)
    {
        var sorted = latencies.Select(l => l.TotalMilliseconds).Order().ToList();
        return new LatencySummary(sorted.Count, ListMetrics.Percentile(sorted, 0.50), ListMetrics.Percentile(sorted, 0.95), ListMetrics.Percentile(sorted, 0.99), sorted.Count == 0 ? double.NaN : sorted[^1]);
    }
}

/// <summary>Where a replay stands, for live progress.</summary>
public sealed record ReplayProgress(int UsersSent, int Users, int Received, int Answered, int Expected, LatencySummary Adapted);

/// <summary>What a replay produced.</summary>
/// <param name="EventsSent">Events published (poison included).</param>
/// <param name="Received">Every recommendation the listener received.</param>
/// <param name="Seconds">From the first event to the last expected recommendation (or the timeout).</param>
/// <param name="Missing">Expected answers (user, basis, at least this many interactions) that never came.</param>
/// <param name="Ingested">Ingest's event outcomes during the replay (warm-up excluded): applied, duplicate, dead_lettered.</param>
/// <param name="HeldBackSent">Held-back interactions sent after the users' recommendations (online evaluation), 0 when none were.</param>
public sealed record ReplayResult(long EventsSent, IReadOnlyList<ReceivedRecommendation> Received, double Seconds, IReadOnlyList<string> Missing, IReadOnlyDictionary<string, double> Ingested, long HeldBackSent = 0)
{
    /// <summary>From the triggering event to the recommendation arriving at a consumer.</summary>
    public LatencySummary Latency(string basis) => LatencySummary.Of(Received.Where(r => r.Message.Basis == basis).Select(r => r.Latency));

    /// <summary>From the triggering event to the Adapter producing the recommendation (the services' own share).</summary>
    public LatencySummary ProducedLatency(string basis) => LatencySummary.Of(Received.Where(r => r.Message.Basis == basis).Select(r => r.Message.ProducedAt - r.Message.TriggerEventTime));
}

/// <summary>
/// Runs new users through the pipeline and waits for every answer the threshold policy promises: an onboarding
/// list for each user's first event, and an adapted list for each crossing (at N, then every K). The Adapter
/// coalesces a user's requests within a micro-batch, newest first, so a burst may answer several crossings
/// with one list made on at least that many interactions, and a first event with an adapted list.
/// With <c>heldBackAfter</c>, each user's held-back interactions follow, that long after the user's
/// last expected recommendation arrived: the outcomes online evaluation attributes to the served lists.
/// </summary>
public static class PipelineReplay
{
    public static ReplayResult Run(
        EmbeddedPipeline pipeline,
        IReadOnlyList<ReplayUser> users,
        double usersPerSecond,
        int poisonEvery,
        (int Threshold, int Every) policy,
        TimeSpan drainTimeout,
        TimeProvider time,
        Action<ReplayProgress>? onProgress,
        CancellationToken cancellationToken,
        TimeSpan? heldBackAfter = null)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(users);
        var expected = Expectations(users, policy);
        using var listener = new RecommendationListener(pipeline.Kafka.BootstrapServers, pipeline.Topics.RecommendationsTopic, time);
        using var producer = new ProducerBuilder<string?, byte[]>(new ProducerConfig
        {
            BootstrapServers = pipeline.Kafka.BootstrapServers,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 0,
        }).SetLogHandler((_, _) => { }).Build();

        WarmUp(producer, pipeline.Topics.InteractionsTopic, listener, users, usersPerSecond, policy.Threshold, time, cancellationToken);
        var ingestedBefore = Ingested();
        int sentUsers = 0;
        var started = time.GetTimestamp();
        long events = 0;
        // A thread of its own: the sender sleeps between arrivals and must not hold a pool thread the services need.
        var sender = new Thread(() => events = NewUserReplay.Run(
            producer, pipeline.Topics.InteractionsTopic, users, usersPerSecond, poisonEvery, time,
            new InlineProgress(n => Volatile.Write(ref sentUsers, n)), cancellationToken)) { IsBackground = true, Name = "replay" };
        sender.Start();

        var missing = expected.Select(e => e.ToString()).ToList();
        var heldBack = heldBackAfter is { } delay ? new HeldBackSender(producer, pipeline.Topics.InteractionsTopic, users, expected, delay, time) : null;
        DateTimeOffset? drainDeadline = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            var received = Measured(listener);
            missing = Missing(expected, received);
            heldBack?.SendDue(received);
            onProgress?.Invoke(new ReplayProgress(Volatile.Read(ref sentUsers), users.Count, received.Count, expected.Count - missing.Count, expected.Count,
                LatencySummary.Of(received.Where(r => r.Message.Basis == RecommendationMessage.Adapted).Select(r => r.Latency))));
            if (!sender.IsAlive)
            {
                drainDeadline ??= time.GetUtcNow() + drainTimeout;
                bool drained = missing.Count == 0 && (heldBack is null || heldBack.Done && AllIngested(ingestedBefore, Volatile.Read(ref events) + heldBack.Sent));
                if (drained || time.GetUtcNow() > drainDeadline)
                {
                    break;
                }
            }

            Thread.Sleep(100);
        }

        sender.Join();
        var ingested = Ingested().ToDictionary(kv => kv.Key, kv => kv.Value - ingestedBefore[kv.Key]);
        return new ReplayResult(events, Measured(listener), time.GetElapsedTime(started).TotalSeconds, missing, ingested, heldBack?.Sent ?? 0);
    }

    // Every event sent has been handled by Ingest (applied, a duplicate or dead-lettered): the online figures are complete.
    private static bool AllIngested(Dictionary<string, double> before, long sent) =>
        Ingested().Sum(kv => kv.Value - before[kv.Key]) >= sent;

    /// <summary>Sends each user's held-back interactions once the user's last expected recommendation has been received, and a delay has passed.</summary>
    private sealed class HeldBackSender(IProducer<string?, byte[]> producer, string topic, IReadOnlyList<ReplayUser> users, List<Expectation> expected, TimeSpan delay, TimeProvider time)
    {
        private readonly Dictionary<string, ReplayUser> pending = users.Where(u => u.HeldOut.Count > 0).ToDictionary(u => u.UserId, StringComparer.Ordinal);
        private readonly Dictionary<string, Expectation> last = expected.GroupBy(e => e.UserId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.MaxBy(e => e.Basis == RecommendationMessage.Adapted ? e.AtLeast : 0)!, StringComparer.Ordinal);

        public long Sent { get; private set; }

        public bool Done => pending.Count == 0;

        public void SendDue(IReadOnlyList<ReceivedRecommendation> received)
        {
            var now = time.GetUtcNow();
            foreach (var r in received)
            {
                if (pending.TryGetValue(r.Message.UserId, out var user) && Answers(last.GetValueOrDefault(user.UserId), r.Message) && r.ReceivedAt + delay <= now)
                {
                    Sent += NewUserReplay.SendHeldBack(producer, topic, user, time);
                    pending.Remove(user.UserId);
                }
            }
        }

        // A user below the threshold expects only an onboarding list: any list answers it.
        private static bool Answers(Expectation? final, RecommendationMessage message) =>
            final is null || final.Basis == RecommendationMessage.Onboarding || (message.Basis == RecommendationMessage.Adapted && message.Interactions >= final.AtLeast);
    }

    private const string WarmUpPrefix = "warm-up-";

    /// <summary>Ingest's event counters (the services run in this process).</summary>
    private static Dictionary<string, double> Ingested() =>
        IngestOutcomes.ToDictionary(o => o, o => IngestMetrics.Events.WithLabels(o).Value);

    private static readonly string[] IngestOutcomes = ["applied", "duplicate", "dead_lettered"];

    /// <summary>
    /// A few seconds of the same traffic through the whole pipeline before measuring, answered in full:
    /// consumer groups (the services' and the listener's) finish joining, and first-batch costs (memory the
    /// tensor allocator has not touched yet, connection set-up) are paid outside the figures.
    /// </summary>
    private static void WarmUp(IProducer<string?, byte[]> producer, string topic, RecommendationListener listener, IReadOnlyList<ReplayUser> plan, double usersPerSecond, int threshold, TimeProvider time, CancellationToken cancellationToken)
    {
        string run = Guid.NewGuid().ToString("N")[..8];
        var users = plan.Take((int)Math.Clamp(usersPerSecond * 2, 1, 200))
            .Select((u, i) => u with { UserId = $"{WarmUpPrefix}{run}-{i}", Events = [.. Enumerable.Range(0, threshold).Select(j => u.Events[j % u.Events.Count])] })
            .ToList();
        NewUserReplay.Run(producer, topic, users, usersPerSecond, poisonEvery: 0, time, progress: null, cancellationToken);
        var deadline = time.GetUtcNow().AddSeconds(60);
        var pending = users.Select(u => u.UserId).ToHashSet();
        while (pending.Count > 0)
        {
            if (time.GetUtcNow() > deadline || cancellationToken.IsCancellationRequested)
            {
                throw new InvalidOperationException($"the pipeline did not answer {pending.Count} warm-up users within 60 s");
            }

            pending.ExceptWith(listener.Snapshot().Where(r => r.Message.Basis == RecommendationMessage.Adapted).Select(r => r.Message.UserId));
            Thread.Sleep(50);
        }
    }

    private static List<ReceivedRecommendation> Measured(RecommendationListener listener) =>
        [.. listener.Snapshot().Where(r => !r.Message.UserId.StartsWith(WarmUpPrefix, StringComparison.Ordinal))];

    private sealed record Expectation(string UserId, string Basis, int AtLeast)
    {
        public override string ToString() => $"{UserId}: {Basis} at >= {AtLeast} interactions";
    }

    private static List<Expectation> Expectations(IReadOnlyList<ReplayUser> users, (int Threshold, int Every) policy)
    {
        var expected = new List<Expectation>();
        foreach (var user in users)
        {
            int n = user.Events.Count;
            if (policy.Threshold > 1 && n >= 1)
            {
                expected.Add(new Expectation(user.UserId, RecommendationMessage.Onboarding, 1));
            }

            if (n >= policy.Threshold)
            {
                expected.Add(new Expectation(user.UserId, RecommendationMessage.Adapted, policy.Threshold + (policy.Every * ((n - policy.Threshold) / policy.Every))));
            }
        }

        return expected;
    }

    private static List<string> Missing(List<Expectation> expected, IReadOnlyList<ReceivedRecommendation> received)
    {
        var best = new Dictionary<(string, string), int>();
        foreach (var r in received)
        {
            var key = (r.Message.UserId, r.Message.Basis);
            best[key] = Math.Max(best.GetValueOrDefault(key), r.Message.Interactions);
        }

        // An onboarding request coalesced with a later adaptation of the same user is answered by the adapted list.
        bool Answered(Expectation e) => e.Basis == RecommendationMessage.Onboarding
            ? best.ContainsKey((e.UserId, RecommendationMessage.Onboarding)) || best.ContainsKey((e.UserId, RecommendationMessage.Adapted))
            : best.GetValueOrDefault((e.UserId, e.Basis)) >= e.AtLeast;
        return [.. expected.Where(e => !Answered(e)).Select(e => e.ToString())];
    }

    private sealed class InlineProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}

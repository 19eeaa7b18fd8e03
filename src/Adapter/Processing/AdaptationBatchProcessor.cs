using System.Diagnostics;
using System.Text.Json;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Shared.Learning;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;

namespace Streaming.Adapter.Processing;

/// <summary>What one micro-batch did.</summary>
public sealed record AdaptationOutcome(int Users, int MissingSessions, double ComputeSeconds);

/// <summary>
/// The Adapter's work on one micro-batch of adapt-requests, with no broker in sight. Requests are coalesced
/// per user (the newest wins: a burst of requests is one adaptation). Sessions are loaded in one pipelined
/// read, all users are adapted at once by the batched inner loop, and every catalogue item they have not seen
/// is scored. Each user's fast weights are cached, tagged with the model version and session size. Top-K
/// recommendations are published, and the call returns once all of it is durable, so the caller then stores
/// the offsets. Not thread-safe: one micro-batch at a time (the recommender is single-threaded).
/// </summary>
public sealed class AdaptationBatchProcessor(
    BatchRecommender recommender,
    string modelVersion,
    RedisSessionStore sessions,
    FastWeightCache cache,
    IOutbox outbox,
    KafkaOptions topics,
    int steps,
    int topK,
    TimeProvider time)
{
    public async Task<AdaptationOutcome> ProcessAsync(IReadOnlyList<AdaptRequest> requests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var latest = requests.GroupBy(r => r.UserId, StringComparer.Ordinal).Select(g => g.MaxBy(r => r.Interactions)!).ToList();
        var loaded = (await sessions.LoadAsync(latest.Select(r => r.UserId).ToList()).ConfigureAwait(false))
            .ToDictionary(s => s.UserId, StringComparer.Ordinal);
        var work = latest.Where(r => loaded.ContainsKey(r.UserId)).ToList();
        if (work.Count == 0)
        {
            return new AdaptationOutcome(0, latest.Count, 0);
        }

        var userSessions = work
            .Select(r => loaded[r.UserId])
            .Select(s => new UserSession(s.Profile, s.Recent.Select(i => new Rating(0, i.ItemId, i.Rating)).ToArray()))
            .ToList();
        var watch = Stopwatch.StartNew();
        var results = recommender.Recommend(userSessions, steps, topK, exportFastState: true);
        double compute = watch.Elapsed.TotalSeconds;

        await cache.SetManyAsync(work.Select((r, i) => (r.UserId, new CachedFastWeights(modelVersion, loaded[r.UserId].Interactions, results[i].FastState!))).ToList()).ConfigureAwait(false);
        var producedAt = time.GetUtcNow();
        for (int i = 0; i < work.Count; i++)
        {
            var message = new RecommendationMessage
            {
                UserId = work[i].UserId,
                Items = results[i].Items.Select(s => new RecommendedItem(s.ItemId, s.Score)).ToArray(),
                ModelVersion = modelVersion,
                Basis = RecommendationMessage.Adapted,
                Interactions = (int)loaded[work[i].UserId].Interactions,
                TriggerEventTime = work[i].TriggerEventTime,
                ProducedAt = producedAt,
            };
            outbox.Send(topics.RecommendationsTopic, message.UserId, JsonSerializer.SerializeToUtf8Bytes(message));
        }

        await outbox.DeliverAllAsync(cancellationToken).ConfigureAwait(false);
        return new AdaptationOutcome(work.Count, latest.Count - work.Count, compute);
    }
}

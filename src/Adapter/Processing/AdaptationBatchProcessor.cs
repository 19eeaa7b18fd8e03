using System.Diagnostics;
using System.Text.Json;
using Polly;
using Streaming.Adapter.Models;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Learning.Serving;
using Streaming.Shared.Models;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;

namespace Streaming.Adapter.Processing;

/// <summary>What one micro-batch did.</summary>
/// <param name="Published">The recommendations published (durably) for this batch.</param>
/// <param name="MissingSessions">Requests whose session had expired or was never written.</param>
/// <param name="DeadLettered">Requests that could not be read, sent to the dead-letter topic.</param>
/// <param name="ComputeSeconds">Adaptation and scoring time.</param>
public sealed record AdaptationOutcome(IReadOnlyList<RecommendationMessage> Published, int MissingSessions, int DeadLettered, double ComputeSeconds);

/// <summary>How the Adapter adapts: local steps and list length.</summary>
public sealed record AdaptationSettings(int Steps, int TopK);

/// <summary>
/// The Adapter's work on one micro-batch of adapt-requests, with no broker in sight. Unreadable requests go to
/// the dead-letter topic with the reason. The rest are coalesced per user (the newest wins: a burst of
/// requests is one adaptation), and sessions are loaded in one pipelined read. Users due for adaptation are
/// adapted all at once by the batched inner loop, every catalogue item they have not seen is scored, and
/// a record of the adaptation (model version and session size, a few dozen bytes, no weights) is written to the
/// fast-weight cache for the stale-weight sweeper. Users below the threshold
/// get onboarding recommendations: the model's evidence candidates, then popular items. The call returns once
/// the cache writes and every recommendation are durable, so the caller then stores the offsets.
/// Not thread-safe: one micro-batch at a time (the recommender is single-threaded).
/// </summary>
public sealed class AdaptationBatchProcessor(
    ISessionStore sessions,
    IFastWeightCache cache,
    IOutbox outbox,
    KafkaOptions topics,
    AdaptationSettings settings,
    ResiliencePipeline redisPipeline,
    TimeProvider time)
{
    public async Task<AdaptationOutcome> ProcessAsync(IReadOnlyList<IncomingMessage> batch, ServingSet models, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(models);
        var requests = new List<AdaptRequest>(batch.Count);
        foreach (var message in batch)
        {
            if (Read(message, out var reason) is { } request)
            {
                requests.Add(request);
            }
            else
            {
                outbox.DeadLetter(topics.AdaptRequestsDeadLetterTopic, reason, message);
            }
        }

        var latest = requests.GroupBy(r => r.UserId, StringComparer.Ordinal).Select(g => g.MaxBy(r => r.Interactions)!).ToList();
        var loaded = latest.Count == 0
            ? []
            : (await redisPipeline.ExecuteAsync(async _ => await sessions.LoadAsync([.. latest.Select(r => r.UserId)]).ConfigureAwait(false), cancellationToken).ConfigureAwait(false))
                .ToDictionary(s => s.UserId, StringComparer.Ordinal);

        // Each user is served by their model (the active one, or the canary for the canary's share).
        var watch = Stopwatch.StartNew();
        var published = new List<RecommendationMessage>(latest.Count);
        var cached = new List<(string UserId, CachedFastWeights Weights)>();
        var producedAt = time.GetUtcNow();
        foreach (var group in latest.Where(r => loaded.ContainsKey(r.UserId)).GroupBy(r => models.For(r.UserId)))
        {
            var model = group.Key;
            var adapt = group.Where(r => r.Basis == RecommendationMessage.Adapted).ToList();
            var onboard = group.Where(r => r.Basis == RecommendationMessage.Onboarding).ToList();
            // A model may name its own serving steps: 0 serves the meta-initialisation unadapted (a control arm).
            var adapted = model.Recommender.Recommend([.. adapt.Select(r => ToUserSession(loaded[r.UserId]))], model.Model.Manifest.ServingSteps ?? settings.Steps, settings.TopK);
            var onboarding = Onboarding(model, [.. onboard.Select(r => loaded[r.UserId])]);
            // Only the record of the adaptation (version, session size), not the weights: nothing serves from cached
            // weights (a user's next request comes with a longer session, and adaptation takes milliseconds), and at
            // 82 KB per user they filled Redis. The sweeper reads these records after a model switch.
            cached.AddRange(adapt.Select(r => (r.UserId, new CachedFastWeights(model.Version, loaded[r.UserId].Interactions, []))));
            published.AddRange(adapt.Select((r, i) => Message(r, loaded[r.UserId], adapted[i].Items, adapted[i].PredictedRatings, model.Version, models.Canary?.Version, producedAt)));
            published.AddRange(onboard.Select((r, i) => Message(r, loaded[r.UserId], onboarding[i], null, model.Version, models.Canary?.Version, producedAt)));
        }

        double compute = watch.Elapsed.TotalSeconds;
        if (cached.Count > 0)
        {
            await redisPipeline.ExecuteAsync(async _ => await cache.SetManyAsync(cached).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }

        foreach (var message in published)
        {
            outbox.Send(topics.RecommendationsTopic, message.UserId, JsonSerializer.SerializeToUtf8Bytes(message));
        }

        await outbox.DeliverAllAsync(cancellationToken).ConfigureAwait(false);
        return new AdaptationOutcome(published, latest.Count - published.Count, batch.Count - requests.Count, compute);
    }

    private IReadOnlyList<IReadOnlyList<ScoredItem>> Onboarding(ServingModel model, IReadOnlyList<StoredSession> users)
    {
        if (users.Count == 0)
        {
            return [];
        }

        if (model.Model.Manifest.Onboarding is { } items)
        {
            return [.. users.Select(u => items.For(u.Recent.Select(i => i.ItemId).ToHashSet(), settings.TopK))];
        }

        // A model trained before evidence candidates existed: the meta-initialisation's scores, not adapted.
        return [.. model.Recommender.Recommend([.. users.Select(ToUserSession)], steps: 0, settings.TopK).Select(r => r.Items)];
    }

    private static UserSession ToUserSession(StoredSession session) =>
        new(session.Profile, [.. session.Recent.Select(i => new Rating(0, i.ItemId, i.Rating))]);

    // predicted: the rating predicted for each item (null: the list predicts none, as onboarding lists).
    private static RecommendationMessage Message(AdaptRequest request, StoredSession session, IReadOnlyList<ScoredItem> items, IReadOnlyList<float>? predicted, string version, string? canary, DateTimeOffset producedAt) => new()
    {
        CanaryVersion = canary,
        UserId = request.UserId,
        Items = [.. items.Select((s, j) => new RecommendedItem(s.ItemId, s.Score, predicted?[j]))],
        ModelVersion = version,
        Basis = request.Basis,
        Interactions = (int)session.Interactions,
        TriggerEventTime = request.TriggerEventTime,
        ProducedAt = producedAt,
    };

    /// <summary>An adapt-request, or null with the reason it cannot be used.</summary>
    private static AdaptRequest? Read(IncomingMessage message, out string reason)
    {
        AdaptRequest? request;
        try
        {
            request = JsonSerializer.Deserialize<AdaptRequest>(message.Value);
        }
        catch (JsonException e)
        {
            reason = $"malformed adapt-request: {e.Message}";
            return null;
        }

        reason = request switch
        {
            null => "malformed adapt-request: null",
            { Schema: not AdaptRequest.SchemaV1 } => $"unsupported schema '{request.Schema}' (expected {AdaptRequest.SchemaV1})",
            // "userId": null deserialises (System.Text.Json does not enforce nullability): never let it reach a dictionary.
            _ when UserIds.Problem(request.UserId) is { } problem => problem,
            { TriggerEventId: null } => "missing triggerEventId",
            { Basis: not (RecommendationMessage.Adapted or RecommendationMessage.Onboarding) } => $"unknown basis '{request.Basis}'",
            _ when message.Key != request.UserId => $"key '{(message.Key is { Length: > 200 } k ? k[..200] + "..." : message.Key)}' is not the userId '{request.UserId}'",
            _ => "",
        };
        return reason.Length == 0 ? request : null;
    }
}

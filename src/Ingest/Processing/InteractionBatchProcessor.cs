using System.Text.Json;
using Polly;
using Streaming.Shared.Contracts;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;

namespace Streaming.Ingest.Processing;

/// <summary>What a batch did.</summary>
public sealed record BatchOutcome(int Applied, int Duplicates, int DeadLettered, int AdaptRequests, int OnboardingRequests = 0);

/// <summary>
/// Ingest's work on one batch, with no broker in sight: validate every message (rejects go to the dead-letter
/// topic unchanged, with the reason in headers, or as a bounded envelope when too large to dead-letter whole), apply the valid ones to the session store in one pipelined,
/// idempotent round trip (retried through the <c>redis</c> pipeline while Redis is unavailable), publish an
/// adapt-request for each user who became due, and return only when all of that is durable: the caller
/// stores the batch's offsets after this returns, never before.
/// </summary>
public sealed class InteractionBatchProcessor(
    InteractionValidator validator,
    ISessionStore store,
    IOutbox outbox,
    KafkaOptions topics,
    ResiliencePipeline redisPipeline)
{
    public async Task<BatchOutcome> ProcessAsync(IReadOnlyList<IncomingMessage> batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var valid = new List<Interaction>(batch.Count);
        int deadLettered = 0;
        foreach (var message in batch)
        {
            var result = validator.Validate(message.Key, message.Value);
            if (result.Interaction is { } interaction)
            {
                valid.Add(interaction);
            }
            else
            {
                outbox.DeadLetter(topics.DeadLetterTopic, result.Reason!, message);
                deadLettered++;
            }
        }

        var applied = valid.Count == 0
            ? []
            : await redisPipeline.ExecuteAsync(async _ => await store.ApplyAsync(valid).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

        int adaptRequests = 0, onboardingRequests = 0, appliedCount = 0;
        for (int i = 0; i < valid.Count; i++)
        {
            appliedCount += applied[i].Applied ? 1 : 0;
            if (applied[i].AdaptNow || applied[i].OnboardNow)
            {
                var request = new AdaptRequest
                {
                    UserId = valid[i].UserId,
                    Interactions = applied[i].Interactions,
                    TriggerEventId = valid[i].EventId,
                    TriggerEventTime = valid[i].EventTime,
                    Basis = applied[i].AdaptNow ? RecommendationMessage.Adapted : RecommendationMessage.Onboarding,
                };
                outbox.Send(topics.AdaptRequestsTopic, request.UserId, JsonSerializer.SerializeToUtf8Bytes(request));
                adaptRequests += applied[i].AdaptNow ? 1 : 0;
                onboardingRequests += applied[i].OnboardNow ? 1 : 0;
            }
        }

        await outbox.DeliverAllAsync(cancellationToken).ConfigureAwait(false);
        return new BatchOutcome(appliedCount, valid.Count - appliedCount, deadLettered, adaptRequests, onboardingRequests);
    }
}

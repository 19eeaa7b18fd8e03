using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Polly;
using Streaming.Shared.Contracts;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;

namespace Streaming.Ingest.Processing;

/// <summary>One consumed message: what the processor needs of a Kafka record.</summary>
public sealed record IncomingMessage(string? Key, byte[] Value, string Topic, int Partition, long Offset);

/// <summary>What a batch did.</summary>
public sealed record BatchOutcome(int Applied, int Duplicates, int DeadLettered, int AdaptRequests);

/// <summary>
/// Ingest's work on one batch, with no broker in sight: validate every message (rejects go to the dead-letter
/// topic unchanged, with the reason in headers), apply the valid ones to the session store in one pipelined,
/// idempotent round trip (retried through the <c>redis</c> pipeline while Redis is unavailable), publish an
/// adapt-request for each user who became due, and return only when all of that is durable: the caller
/// stores the batch's offsets after this returns, never before.
/// </summary>
public sealed class InteractionBatchProcessor(
    InteractionValidator validator,
    RedisSessionStore store,
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
                outbox.Send(topics.DeadLetterTopic, message.Key, message.Value, DeadLetter(result.Reason!, message));
                deadLettered++;
            }
        }

        var applied = valid.Count == 0
            ? []
            : await redisPipeline.ExecuteAsync(async _ => await store.ApplyAsync(valid).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

        int adaptRequests = 0, appliedCount = 0;
        for (int i = 0; i < valid.Count; i++)
        {
            appliedCount += applied[i].Applied ? 1 : 0;
            if (applied[i].AdaptNow)
            {
                var request = new AdaptRequest
                {
                    UserId = valid[i].UserId,
                    Interactions = applied[i].Interactions,
                    TriggerEventId = valid[i].EventId,
                    TriggerEventTime = valid[i].EventTime,
                };
                outbox.Send(topics.AdaptRequestsTopic, request.UserId, JsonSerializer.SerializeToUtf8Bytes(request));
                adaptRequests++;
            }
        }

        await outbox.DeliverAllAsync(cancellationToken).ConfigureAwait(false);
        return new BatchOutcome(appliedCount, valid.Count - appliedCount, deadLettered, adaptRequests);
    }

    private static Headers DeadLetter(string reason, IncomingMessage source) => new()
    {
        { DeadLetterHeaders.Reason, Encoding.UTF8.GetBytes(reason) },
        { DeadLetterHeaders.SourceTopic, Encoding.UTF8.GetBytes(source.Topic) },
        { DeadLetterHeaders.SourcePartition, Encoding.UTF8.GetBytes(source.Partition.ToString(CultureInfo.InvariantCulture)) },
        { DeadLetterHeaders.SourceOffset, Encoding.UTF8.GetBytes(source.Offset.ToString(CultureInfo.InvariantCulture)) },
    };
}

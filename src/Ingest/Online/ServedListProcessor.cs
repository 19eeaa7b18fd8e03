using System.Text.Json;
using Polly;
using Streaming.Shared.Contracts;
using Streaming.Shared.Messaging;
using Streaming.Shared.Online;
using Streaming.Shared.Sessions;

namespace Streaming.Ingest.Online;

/// <summary>What a batch of recommendations did.</summary>
public sealed record ServedOutcome(int Recorded, int DeadLettered);

/// <summary>
/// Ingest's side of online evaluation, with no broker in sight: reads a batch of the <c>recommendations</c> topic
/// and stores each user's last served list (<see cref="ISessionStore.RecordServedAsync"/>), newest per user, so
/// that the session update attributes the user's next interactions to it. Unreadable messages go to Ingest's
/// dead-letter topic with the reason (its <c>dlq.source.topic</c> header says they came from recommendations).
/// Returns once the writes and dead letters are durable; the caller then stores the offsets. A redelivered
/// batch writes the same lists again, which changes nothing.
/// </summary>
public sealed class ServedListProcessor(ISessionStore store, IOutbox outbox, KafkaOptions topics, ResiliencePipeline redisPipeline)
{
    public async Task<ServedOutcome> ProcessAsync(IReadOnlyList<IncomingMessage> batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var lists = new Dictionary<string, ServedList>(StringComparer.Ordinal);
        int deadLettered = 0;
        foreach (var message in batch)
        {
            if (Read(message, out string reason) is { } list)
            {
                if (!lists.TryGetValue(list.UserId, out var kept) || kept.ProducedAt <= list.ProducedAt)
                {
                    lists[list.UserId] = list;
                }
            }
            else
            {
                outbox.DeadLetter(topics.DeadLetterTopic, reason, message);
                deadLettered++;
            }
        }

        if (lists.Count > 0)
        {
            await redisPipeline.ExecuteAsync(async _ => await store.RecordServedAsync([.. lists.Values]).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }

        await outbox.DeliverAllAsync(cancellationToken).ConfigureAwait(false);
        return new ServedOutcome(lists.Count, deadLettered);
    }

    /// <summary>A served list, or null with the reason the message cannot be used.</summary>
    private static ServedList? Read(IncomingMessage message, out string reason)
    {
        RecommendationMessage? m;
        try
        {
            m = JsonSerializer.Deserialize<RecommendationMessage>(message.Value);
        }
        catch (JsonException e)
        {
            reason = $"malformed recommendation: {e.Message}";
            return null;
        }

        // Versions become Redis field names and metric labels: plain tokens only.
        reason = m switch
        {
            null => "malformed recommendation: null",
            { Schema: not RecommendationMessage.SchemaV1 } => $"unsupported schema '{m.Schema}' (expected {RecommendationMessage.SchemaV1})",
            _ when UserIds.Problem(m.UserId) is { } problem => problem,
            _ when m.ModelVersion is null || !OnlineLayout.VersionPattern().IsMatch(m.ModelVersion) => $"modelVersion '{Cut(m.ModelVersion)}' is not 1..64 letters, digits, '.', '_' or '-'",
            _ when m.CanaryVersion is { } canary && !OnlineLayout.VersionPattern().IsMatch(canary) => $"canaryVersion '{Cut(canary)}' is not 1..64 letters, digits, '.', '_' or '-'",
            { Items: null } => "missing items",
            _ when message.Key != m.UserId => $"key '{Cut(message.Key)}' is not the userId '{m.UserId}'",
            _ => "",
        };
        return reason.Length == 0 ? ServedList.From(m!) : null;
    }

    private static string? Cut(string? text) => text is { Length: > 200 } ? text[..200] + "..." : text;
}

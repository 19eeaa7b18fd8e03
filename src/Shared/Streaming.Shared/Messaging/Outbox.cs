using Confluent.Kafka;

namespace Streaming.Shared.Messaging;

/// <summary>Where a batch's outgoing messages go; <see cref="DeliverAllAsync"/> returns once all are durable.</summary>
public interface IOutbox
{
    void Send(string topic, string? key, byte[] value, Headers? headers = null);

    /// <summary>
    /// Sends <paramref name="source"/> unchanged to the dead-letter <paramref name="topic"/> with <paramref name="reason"/>
    /// in its headers; if that record is refused for its content (too large), a bounded <see cref="DeadLetterEnvelope"/> instead.
    /// </summary>
    void DeadLetter(string topic, string reason, IncomingMessage source);

    /// <summary>Waits until every message sent so far is acknowledged.</summary>
    /// <exception cref="WriteUnavailableException">The broker cannot take writes now; send the batch again later.</exception>
    /// <exception cref="ProduceException{TKey, TValue}">Any other failure (a missing topic, an authorisation error): not retried.</exception>
    Task DeliverAllAsync(CancellationToken cancellationToken);
}

/// <summary>
/// An <see cref="IOutbox"/> over a Kafka producer (acks=all, idempotent): delivery reports are awaited per batch,
/// and every failure is sorted into one of <see cref="ProduceFailures"/>' kinds. Not thread-safe: one batch at a time.
/// </summary>
public sealed class KafkaOutbox(IProducer<string?, byte[]> producer) : IOutbox
{
    private readonly List<Task<DeliveryResult<string?, byte[]>>> inFlight = [];
    private readonly List<(Task<DeliveryResult<string?, byte[]>> Delivery, string Topic, string Reason, IncomingMessage Source)> deadLetters = [];

    public void Send(string topic, string? key, byte[] value, Headers? headers = null) =>
        inFlight.Add(producer.ProduceAsync(topic, new Message<string?, byte[]> { Key = key, Value = value, Headers = headers }));

    public void DeadLetter(string topic, string reason, IncomingMessage source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var message = new Message<string?, byte[]> { Key = source.Key, Value = source.Value, Headers = DeadLetterHeaders.For(reason, source) };
        deadLetters.Add((producer.ProduceAsync(topic, message), topic, reason, source));
    }

    public async Task DeliverAllAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Settle([.. inFlight, .. deadLetters.Select(d => d.Delivery)], cancellationToken).ConfigureAwait(false);

            // A dead letter refused for its size or form is replaced by its bounded envelope: the offset moves on.
            var envelopes = deadLetters
                .Where(d => Failure(d.Delivery) is { } e && ProduceFailures.IsCausedByContent(e.Error))
                .Select(d => producer.ProduceAsync(d.Topic, DeadLetters.Envelope(d.Reason, d.Source, Failure(d.Delivery)!.Error.Reason)))
                .ToList();
            await Settle(envelopes, cancellationToken).ConfigureAwait(false);

            var failures = inFlight.Concat(envelopes).Select(Failure)
                .Concat(deadLetters.Select(d => Failure(d.Delivery)).Where(e => e is not null && !ProduceFailures.IsCausedByContent(e.Error)))
                .Where(e => e is not null)
                .ToList();
            if (failures.Count == 0)
            {
                return;
            }

            if (failures.All(e => ProduceFailures.IsTransient(e!.Error)))
            {
                throw new WriteUnavailableException($"Kafka cannot take writes now: {failures[0]!.Error.Reason} ({failures.Count} messages)", failures[0]!) { Store = "kafka" };
            }

            throw failures.First(e => !ProduceFailures.IsTransient(e!.Error))!;
        }
        finally
        {
            inFlight.Clear();
            deadLetters.Clear();
        }
    }

    // Waits for every delivery, failed or not (Task.WhenAll alone stops looking at the first failure).
    private static async Task Settle(List<Task<DeliveryResult<string?, byte[]>>> deliveries, CancellationToken cancellationToken)
    {
        try
        {
            await Task.WhenAll(deliveries).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ProduceException<string?, byte[]>)
        {
            // Sorted by the caller, delivery by delivery.
        }
    }

    private static ProduceException<string?, byte[]>? Failure(Task<DeliveryResult<string?, byte[]>> delivery) =>
        delivery.IsFaulted ? delivery.Exception!.InnerExceptions.OfType<ProduceException<string?, byte[]>>().FirstOrDefault() : null;
}

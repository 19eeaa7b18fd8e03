using Confluent.Kafka;

namespace Streaming.Shared.Messaging;

/// <summary>Where a batch's outgoing messages go; <see cref="DeliverAllAsync"/> returns once all are durable.</summary>
public interface IOutbox
{
    void Send(string topic, string? key, byte[] value, Headers? headers = null);

    /// <summary>Waits until every message sent so far is acknowledged; throws if any failed.</summary>
    Task DeliverAllAsync(CancellationToken cancellationToken);
}

/// <summary>An <see cref="IOutbox"/> over a Kafka producer (acks=all, idempotent): delivery reports are awaited per batch.</summary>
public sealed class KafkaOutbox(IProducer<string?, byte[]> producer) : IOutbox
{
    private readonly List<Task<DeliveryResult<string?, byte[]>>> inFlight = [];

    public void Send(string topic, string? key, byte[] value, Headers? headers = null) =>
        inFlight.Add(producer.ProduceAsync(topic, new Message<string?, byte[]> { Key = key, Value = value, Headers = headers }));

    public async Task DeliverAllAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.WhenAll(inFlight).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            inFlight.Clear();
        }
    }
}

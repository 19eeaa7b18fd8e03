using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Streaming.Shared.Messaging;

/// <summary>How a consume loop batches: at most <paramref name="MaxMessages"/>, waiting at most <paramref name="MaxWait"/> after the first.</summary>
public sealed record BatchLimits(int MaxMessages, TimeSpan MaxWait);

/// <summary>
/// The consume loop both services share (confluent-kafka-dotnet's pattern): a blocking loop on its own
/// thread; messages are gathered into batches, a batch is handed to the service, and its offsets are stored
/// only after the service returns, i.e. after the batch's effects are durable; auto-commit then commits
/// stored offsets. At-least-once delivery plus idempotent processing gives exactly-once effects.
/// </summary>
public sealed partial class BatchConsumeLoop(ConsumerConfig config, string topic, BatchLimits limits, ILogger logger)
{
    private string? lastError;

    /// <summary>Called after every batch (and at least every 250 ms when idle), on the loop's thread: lag metrics, model swaps.</summary>
    public Action<IConsumer<string?, byte[]>>? Tick { get; init; }

    /// <summary>
    /// Runs until <paramref name="stoppingToken"/> is cancelled (returns null) or Kafka reports a fatal error
    /// (returns its reason). On return the consumer has committed its stored offsets and left the group.
    /// </summary>
    /// <param name="process">Makes a batch durable; blocking, on the loop's thread.</param>
    /// <param name="stoppingToken">Shutdown.</param>
    public string? Run(Action<IReadOnlyList<ConsumeResult<string?, byte[]>>> process, CancellationToken stoppingToken)
    {
        ArgumentNullException.ThrowIfNull(process);
        using var consumer = new ConsumerBuilder<string?, byte[]>(config)
            .SetErrorHandler((_, e) => LogKafkaError(e.Reason))
            .SetPartitionsAssignedHandler((_, partitions) => LogAssigned(string.Join(",", partitions)))
            .SetPartitionsRevokedHandler((_, partitions) => LogRevoked(string.Join(",", partitions)))
            .SetPartitionsLostHandler((_, partitions) => LogLost(string.Join(",", partitions)))
            .Build();
        consumer.Subscribe(topic);
        var batch = new List<ConsumeResult<string?, byte[]>>(limits.MaxMessages);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                batch.Clear();
                var wait = Stopwatch.StartNew();
                while (batch.Count < limits.MaxMessages)
                {
                    var remaining = batch.Count == 0 ? TimeSpan.FromMilliseconds(250) : limits.MaxWait - wait.Elapsed;
                    if (remaining <= TimeSpan.Zero || Consume(consumer, remaining, stoppingToken) is not { } result)
                    {
                        break;
                    }

                    if (!result.IsPartitionEOF)
                    {
                        batch.Add(result);
                        if (batch.Count == 1)
                        {
                            wait.Restart();   // the batch's wait starts with its first message
                        }
                    }
                }

                if (batch.Count > 0)
                {
                    process(batch);
                    foreach (var last in batch.GroupBy(r => r.TopicPartition).Select(g => g.MaxBy(r => r.Offset.Value)!))
                    {
                        consumer.StoreOffset(last);
                    }
                }

                Tick?.Invoke(consumer);
            }

            return null;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: the current batch's offsets were not stored, so it is redelivered and deduplicated.
            return null;
        }
        catch (KafkaException e) when (e.Error.IsFatal)
        {
            LogFatal(e.Error.Reason);
            return e.Error.Reason;
        }
        finally
        {
            // Commits the stored offsets and leaves the group cleanly, so partitions move at once.
            consumer.Close();
        }
    }

    /// <summary>
    /// One message, or null on timeout. Errors that are not fatal (a subscribed topic that does not exist yet,
    /// a broker briefly away) are logged once and waited out: librdkafka recovers from them by itself.
    /// </summary>
    private ConsumeResult<string?, byte[]>? Consume(IConsumer<string?, byte[]> consumer, TimeSpan timeout, CancellationToken stoppingToken)
    {
        try
        {
            var result = consumer.Consume(timeout);
            lastError = null;
            return result;
        }
        catch (ConsumeException e) when (!e.Error.IsFatal)
        {
            if (e.Error.Reason != lastError)
            {
                lastError = e.Error.Reason;
                LogKafkaError(e.Error.Reason);
            }

            stoppingToken.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(200));
            return null;
        }
    }

    /// <summary>Messages waiting in the consumer's assigned partitions (from the last fetched high watermarks).</summary>
    public static long Lag(IConsumer<string?, byte[]> consumer)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        long lag = 0;
        foreach (var partition in consumer.Assignment)
        {
            var high = consumer.GetWatermarkOffsets(partition).High;
            var position = consumer.Position(partition);
            if (high != Offset.Unset && position != Offset.Unset)
            {
                lag += Math.Max(0, high.Value - position.Value);
            }
        }

        return lag;
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "Fatal Kafka error, stopping: {Reason}")]
    private partial void LogFatal(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka: {Reason}")]
    private partial void LogKafkaError(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Assigned {Partitions}")]
    private partial void LogAssigned(string partitions);

    [LoggerMessage(Level = LogLevel.Information, Message = "Revoked {Partitions} (every stored offset belongs to a durable batch)")]
    private partial void LogRevoked(string partitions);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost {Partitions}; their uncommitted batches are redelivered to the new owner and deduplicated")]
    private partial void LogLost(string partitions);
}

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
/// <para>
/// Failures, three policies: a message that cannot be read is the processor's to dead-letter; a write that cannot
/// be made now (<see cref="WriteUnavailableException"/>) pauses consumption and retries the same batch with capped
/// back-off until it succeeds (reported through <see cref="Paused"/> and <see cref="Resumed"/>), so nothing is
/// lost; anything else ends the loop with one log line naming it. Offsets are stored only for partitions still
/// assigned: a partition revoked or lost while its batch was processed belongs to another consumer now, which
/// gets the batch again and deduplicates it.
/// </para>
/// </summary>
public sealed partial class BatchConsumeLoop(ConsumerConfig config, string topic, BatchLimits limits, ILogger logger)
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    // Written by the rebalance handlers, which librdkafka calls on this loop's thread (inside Consume).
    private readonly HashSet<TopicPartition> assigned = [];
    private string? lastError;

    /// <summary>A batch's write failed with a transient fault; the loop waits and retries it (on the loop's thread): health, metrics.</summary>
    public Action<WriteUnavailableException>? Paused { get; init; }

    /// <summary>The batch retried after <see cref="Paused"/> went through.</summary>
    public Action? Resumed { get; init; }

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
            .SetPartitionsAssignedHandler((_, partitions) =>
            {
                assigned.UnionWith(partitions);
                LogAssigned(string.Join(",", partitions));
            })
            .SetPartitionsRevokedHandler((_, partitions) =>
            {
                assigned.ExceptWith(partitions.Select(p => p.TopicPartition));
                LogRevoked(string.Join(",", partitions));
            })
            .SetPartitionsLostHandler((_, partitions) =>
            {
                assigned.ExceptWith(partitions.Select(p => p.TopicPartition));
                LogLost(string.Join(",", partitions));
            })
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
                    ProcessUntilDurable(batch, process, stoppingToken);
                    StoreOffsets(consumer, batch);
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
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Neither a message's fault nor a passing outage: a bug or a configuration error. One line; the
            // orchestrator restarts the service.
            string reason = $"{e.GetType().Name}: {e.Message}";
            LogStopping(reason);
            return reason;
        }
        finally
        {
            // Commits the stored offsets and leaves the group cleanly, so partitions move at once.
            consumer.Close();
        }
    }

    // A transient write failure pauses consumption (nothing is polled, no offset moves) and retries the same
    // batch: the processors are idempotent, so a batch partly written before the failure is completed, not doubled.
    private void ProcessUntilDurable(IReadOnlyList<ConsumeResult<string?, byte[]>> batch, Action<IReadOnlyList<ConsumeResult<string?, byte[]>>> process, CancellationToken stoppingToken)
    {
        var delay = FirstRetryDelay;
        bool paused = false;
        while (true)
        {
            try
            {
                process(batch);
                if (paused)
                {
                    LogResumed();
                    Resumed?.Invoke();
                }

                return;
            }
            catch (WriteUnavailableException e)
            {
                if (!paused)
                {
                    LogPaused(e.Message);
                }

                paused = true;
                Paused?.Invoke(e);
                if (stoppingToken.WaitHandle.WaitOne(delay))
                {
                    throw new OperationCanceledException(stoppingToken);
                }

                delay = TimeSpan.FromTicks(Math.Min(MaxRetryDelay.Ticks, delay.Ticks * 2));
            }
        }
    }

    // Only partitions this consumer still owns: storing one revoked or lost meanwhile throws Local_State, and its
    // new owner consumes the batch again from the last committed offset (deduplicated there).
    private void StoreOffsets(IConsumer<string?, byte[]> consumer, IReadOnlyList<ConsumeResult<string?, byte[]>> batch)
    {
        foreach (var last in batch.GroupBy(r => r.TopicPartition).Select(g => g.MaxBy(r => r.Offset.Value)!))
        {
            if (!assigned.Contains(last.TopicPartition))
            {
                LogNotOwned(last.TopicPartition.ToString());
                continue;
            }

            try
            {
                consumer.StoreOffset(last);
            }
            catch (KafkaException e) when (!e.Error.IsFatal)
            {
                // Local_State: revoked between the handler and here (librdkafka refuses offsets of unassigned partitions).
                LogNotOwned($"{last.TopicPartition} ({e.Error.Reason})");
            }
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

    [LoggerMessage(Level = LogLevel.Critical, Message = "Stopping the consume loop: {Reason}")]
    private partial void LogStopping(string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Write unavailable, consumption paused; retrying the batch: {Reason}")]
    private partial void LogPaused(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Write available again, consumption resumed")]
    private partial void LogResumed();

    [LoggerMessage(Level = LogLevel.Information, Message = "{Partition} is no longer assigned: its offset is not stored, its new owner gets the batch again")]
    private partial void LogNotOwned(string partition);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka: {Reason}")]
    private partial void LogKafkaError(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Assigned {Partitions}")]
    private partial void LogAssigned(string partitions);

    [LoggerMessage(Level = LogLevel.Information, Message = "Revoked {Partitions} (every stored offset belongs to a durable batch)")]
    private partial void LogRevoked(string partitions);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost {Partitions}; their uncommitted batches are redelivered to the new owner and deduplicated")]
    private partial void LogLost(string partitions);
}

using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Streaming.Ingest.Processing;
using Streaming.Shared.Messaging;

namespace Streaming.Ingest;

/// <summary>
/// The consume loop (confluent-kafka-dotnet's pattern): a blocking loop on its own thread; batches of up to
/// <see cref="IngestOptions.MaxBatchSize"/> messages or <see cref="IngestOptions.MaxBatchWaitMs"/>; an offset
/// is stored only after its batch is durable (Redis written, DLQ and adapt-requests acknowledged), and
/// auto-commit commits stored offsets. At-least-once delivery plus the idempotent session store gives
/// exactly-once effects. Fatal Kafka errors end the loop and stop the host (the orchestrator restarts it).
/// </summary>
public sealed partial class IngestWorker(
    IOptions<KafkaOptions> kafka,
    IOptions<IngestOptions> ingest,
    InteractionBatchProcessor processor,
    IngestHealth health,
    IHostApplicationLifetime lifetime,
    ILogger<IngestWorker> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => ConsumeLoop(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void ConsumeLoop(CancellationToken stoppingToken)
    {
        var options = ingest.Value;
        using var consumer = BuildConsumer();
        consumer.Subscribe(kafka.Value.InteractionsTopic);
        var batch = new List<ConsumeResult<string?, byte[]>>(options.MaxBatchSize);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                batch.Clear();
                var wait = Stopwatch.StartNew();
                while (batch.Count < options.MaxBatchSize)
                {
                    var remaining = batch.Count == 0 ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromMilliseconds(options.MaxBatchWaitMs) - wait.Elapsed;
                    if (remaining <= TimeSpan.Zero || consumer.Consume(remaining) is not { } result)
                    {
                        break;
                    }

                    if (!result.IsPartitionEOF)
                    {
                        batch.Add(result);
                    }
                }

                if (batch.Count > 0)
                {
                    Process(consumer, batch, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: the current batch's offsets were not stored, so it is redelivered and deduplicated.
        }
        catch (KafkaException e) when (e.Error.IsFatal)
        {
            LogFatal(e.Error.Reason);
            health.LoopFailed(e.Error.Reason);
            lifetime.StopApplication();
        }
        finally
        {
            // Commits the stored offsets and leaves the group cleanly, so partitions move at once.
            consumer.Close();
        }
    }

    private void Process(IConsumer<string?, byte[]> consumer, List<ConsumeResult<string?, byte[]>> batch, CancellationToken stoppingToken)
    {
        var watch = Stopwatch.StartNew();
        var messages = batch.Select(r => new IncomingMessage(r.Message.Key, r.Message.Value ?? [], r.Topic, r.Partition.Value, r.Offset.Value)).ToList();
        var outcome = processor.ProcessAsync(messages, stoppingToken).GetAwaiter().GetResult();
        health.RedisAvailable();
        foreach (var last in batch.GroupBy(r => r.TopicPartition).Select(g => g.MaxBy(r => r.Offset.Value)!))
        {
            consumer.StoreOffset(last);
        }

        IngestMetrics.Events.WithLabels("applied").Inc(outcome.Applied);
        IngestMetrics.Events.WithLabels("duplicate").Inc(outcome.Duplicates);
        IngestMetrics.Events.WithLabels("dead_lettered").Inc(outcome.DeadLettered);
        IngestMetrics.AdaptRequests.Inc(outcome.AdaptRequests);
        IngestMetrics.BatchSize.Observe(batch.Count);
        IngestMetrics.BatchSeconds.Observe(watch.Elapsed.TotalSeconds);
    }

    private IConsumer<string?, byte[]> BuildConsumer()
    {
        var config = new ConsumerConfig(new Dictionary<string, string>(kafka.Value.Settings))
        {
            BootstrapServers = kafka.Value.BootstrapServers,
            GroupId = ingest.Value.GroupId,
            EnableAutoOffsetStore = false,
            EnableAutoCommit = true,
            AutoCommitIntervalMs = 1000,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
            // A subscribed topic that does not exist yet (or whose first metadata lacked it) is otherwise noticed
            // only after 5 minutes; 10 s costs one small metadata request.
            TopicMetadataRefreshIntervalMs = 10_000,
        };
        return new ConsumerBuilder<string?, byte[]>(config)
            .SetErrorHandler((_, e) => LogKafkaError(e.Reason))
            .SetPartitionsAssignedHandler((_, partitions) => LogAssigned(string.Join(",", partitions)))
            .SetPartitionsRevokedHandler((_, partitions) => LogRevoked(string.Join(",", partitions)))
            .SetPartitionsLostHandler((_, partitions) => LogLost(string.Join(",", partitions)))
            .Build();
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

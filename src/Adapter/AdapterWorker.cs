using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Streaming.Adapter.Models;
using Streaming.Adapter.Processing;
using Streaming.Shared.Hosting;
using Streaming.Shared.Messaging;

namespace Streaming.Adapter;

/// <summary>
/// The Adapter's consume loop over <c>adapt-requests</c> (<see cref="BatchConsumeLoop"/>): micro-batches of up
/// to <see cref="AdapterOptions.MaxBatchUsers"/> requests or <see cref="AdapterOptions.MaxBatchWaitMs"/> after
/// the first, each made durable by <see cref="AdaptationBatchProcessor"/> before its offsets are stored.
/// Between batches it switches to a newly loaded meta-model (<see cref="ModelSlot"/>), so a batch never sees
/// two. Fatal Kafka errors stop the host (the orchestrator restarts it).
/// </summary>
public sealed class AdapterWorker(
    IOptions<KafkaOptions> kafka,
    IOptions<AdapterOptions> adapter,
    AdaptationBatchProcessor processor,
    ModelSlot models,
    ConsumerHealth health,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<AdapterWorker> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => ConsumeLoop(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void ConsumeLoop(CancellationToken stoppingToken)
    {
        var options = adapter.Value;
        var loop = PipelineServices.ConsumeLoop(
            kafka.Value, options.GroupId, kafka.Value.AdaptRequestsTopic, new BatchLimits(options.MaxBatchUsers, TimeSpan.FromMilliseconds(options.MaxBatchWaitMs)),
            health, () => AdapterMetrics.KafkaRetries.Inc(), logger,
            tick: consumer =>
            {
                models.TakeLatest();
                AdapterMetrics.ConsumerLag.Set(BatchConsumeLoop.Lag(consumer));
            });
        try
        {
            PipelineServices.StopOnFatal(loop.Run(batch => Process(batch, stoppingToken), stoppingToken), health, lifetime);
        }
        finally
        {
            models.Clear();
        }
    }

    private void Process(IReadOnlyList<ConsumeResult<string?, byte[]>> batch, CancellationToken stoppingToken)
    {
        var set = models.TakeLatest() ?? throw new InvalidOperationException("no meta-model loaded");
        var startedAt = time.GetUtcNow();
        foreach (var record in batch)
        {
            AdapterMetrics.QueueSeconds.Observe(Math.Max(0, (startedAt - record.Message.Timestamp.UtcDateTime).TotalSeconds));
        }

        var outcome = processor.ProcessAsync([.. batch.Select(IncomingMessage.From)], set, stoppingToken).GetAwaiter().GetResult();
        health.RedisAvailable();
        var now = time.GetUtcNow();
        foreach (var message in outcome.Published)
        {
            AdapterMetrics.Latency.WithLabels(message.Basis).Observe(Math.Max(0, (now - message.TriggerEventTime).TotalSeconds));
            AdapterMetrics.Recommendations.WithLabels(message.Basis).Inc();
        }

        AdapterMetrics.BatchUsers.Observe(outcome.Published.Count);
        AdapterMetrics.ComputeSeconds.Observe(outcome.ComputeSeconds);
        AdapterMetrics.DeadLettered.Inc(outcome.DeadLettered);
        AdapterMetrics.MissingSessions.Inc(outcome.MissingSessions);
    }
}

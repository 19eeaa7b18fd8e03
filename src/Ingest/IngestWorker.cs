using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Streaming.Ingest.Processing;
using Streaming.Shared.Hosting;
using Streaming.Shared.Messaging;

namespace Streaming.Ingest;

/// <summary>
/// Ingest's consume loop over <c>interactions</c> (<see cref="BatchConsumeLoop"/>): batches of up to
/// <see cref="IngestOptions.MaxBatchSize"/> messages or <see cref="IngestOptions.MaxBatchWaitMs"/>, each made
/// durable by <see cref="InteractionBatchProcessor"/> before its offsets are stored. Fatal Kafka errors stop
/// the host (the orchestrator restarts it).
/// </summary>
public sealed class IngestWorker(
    IOptions<KafkaOptions> kafka,
    IOptions<IngestOptions> ingest,
    InteractionBatchProcessor processor,
    ConsumerHealth health,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<IngestWorker> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => ConsumeLoop(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void ConsumeLoop(CancellationToken stoppingToken)
    {
        var options = ingest.Value;
        var loop = PipelineServices.ConsumeLoop(
            kafka.Value, options.GroupId, kafka.Value.InteractionsTopic, options.BatchLimits, health, () => IngestMetrics.KafkaRetries.Inc(), logger,
            tick: consumer => IngestMetrics.ConsumerLag.Set(BatchConsumeLoop.Lag(consumer)));
        PipelineServices.StopOnFatal(loop.Run(batch => Process(batch, stoppingToken), stoppingToken), health, lifetime);
    }

    private void Process(IReadOnlyList<ConsumeResult<string?, byte[]>> batch, CancellationToken stoppingToken)
    {
        var watch = Stopwatch.StartNew();
        var startedAt = time.GetUtcNow();
        foreach (var record in batch)
        {
            IngestMetrics.QueueSeconds.Observe(Math.Max(0, (startedAt - record.Message.Timestamp.UtcDateTime).TotalSeconds));
        }

        var messages = batch.Select(IncomingMessage.From).ToList();
        var outcome = processor.ProcessAsync(messages, stoppingToken).GetAwaiter().GetResult();
        health.RedisAvailable();
        IngestMetrics.Events.WithLabels("applied").Inc(outcome.Applied);
        IngestMetrics.Events.WithLabels("duplicate").Inc(outcome.Duplicates);
        IngestMetrics.Events.WithLabels("dead_lettered").Inc(outcome.DeadLettered);
        IngestMetrics.AdaptRequests.WithLabels("adapted").Inc(outcome.AdaptRequests);
        IngestMetrics.AdaptRequests.WithLabels("onboarding").Inc(outcome.OnboardingRequests);
        IngestMetrics.BatchSize.Observe(batch.Count);
        IngestMetrics.BatchSeconds.Observe(watch.Elapsed.TotalSeconds);
    }
}

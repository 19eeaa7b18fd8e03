using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Streaming.Shared.Hosting;
using Streaming.Shared.Messaging;

namespace Streaming.Ingest.Online;

/// <summary>
/// A second consume loop in Ingest, over <c>recommendations</c> in its own consumer group
/// (<see cref="IngestOptions.ServedGroupId"/>): every served list is stored by <see cref="ServedListProcessor"/>
/// before its offset is, so a crash redelivers lists (rewritten, harmless) and never loses one.
/// </summary>
public sealed class ServedListWorker(
    IOptions<KafkaOptions> kafka,
    IOptions<IngestOptions> ingest,
    ServedListProcessor processor,
    ConsumerHealth health,
    IHostApplicationLifetime lifetime,
    ILogger<ServedListWorker> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => ConsumeLoop(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void ConsumeLoop(CancellationToken stoppingToken)
    {
        var options = ingest.Value;
        var loop = PipelineServices.ConsumeLoop(
            kafka.Value, options.ServedGroupId, kafka.Value.RecommendationsTopic, options.BatchLimits, health, () => IngestMetrics.KafkaRetries.Inc(), logger);
        PipelineServices.StopOnFatal(loop.Run(batch => Process(batch, stoppingToken), stoppingToken), health, lifetime);
    }

    private void Process(IReadOnlyList<ConsumeResult<string?, byte[]>> batch, CancellationToken stoppingToken)
    {
        var outcome = processor.ProcessAsync([.. batch.Select(IncomingMessage.From)], stoppingToken).GetAwaiter().GetResult();
        IngestMetrics.ServedLists.WithLabels("recorded").Inc(outcome.Recorded);
        IngestMetrics.ServedLists.WithLabels("dead_lettered").Inc(outcome.DeadLettered);
    }
}

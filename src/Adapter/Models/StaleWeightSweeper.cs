using System.Text.Json;
using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Streaming.Shared.Contracts;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;

namespace Streaming.Adapter.Models;

/// <summary>
/// After a switch of the served models (promote, canary, rollback, a new file), finds the users whose cached
/// fast weights belong to a version that no longer serves them and asks for their re-adaptation: an
/// adapt-request per user (key = user, as Ingest sends them), paced at <see cref="AdapterOptions.StaleReadaptPerSecond"/>,
/// so their next recommendation comes from the model that serves them now. A sweep interrupted by the next
/// switch starts over for the newer set. Every replica sweeps: a request answered twice is a harmless
/// re-adaptation, and it keeps the sweep alive when replicas come and go.
/// </summary>
public sealed partial class StaleWeightSweeper(
    ModelSlot slot,
    IFastWeightCache cache,
    IProducer<string?, byte[]> producer,
    IOptions<KafkaOptions> kafka,
    IOptions<AdapterOptions> options,
    TimeProvider time,
    ILogger<StaleWeightSweeper> logger) : BackgroundService
{
    private const int PageSize = 500;
    private readonly Channel<ServingSet> switches = Channel.CreateBounded<ServingSet>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest });

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        slot.Switched += (previous, next) =>
        {
            if (previous is not null)
            {
                switches.Writer.TryWrite(next);
            }
        };
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var set in switches.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                int requested = await SweepAsync(set, stoppingToken).ConfigureAwait(false);
                LogSwept(set.Active.Version, requested);
            }
            catch (Exception e) when (e is StackExchange.Redis.RedisException or KafkaException)
            {
                LogFailed(e.Message);
            }
        }
    }

    private async Task<int> SweepAsync(ServingSet set, CancellationToken stoppingToken)
    {
        int requested = 0;
        var started = time.GetTimestamp();
        await foreach (var page in cache.ScanAsync(PageSize, stoppingToken).ConfigureAwait(false))
        {
            if (switches.Reader.Count > 0)
            {
                break;   // a newer set is waiting: its sweep covers this one
            }

            foreach (var (user, version, interactions) in page.Where(e => e.ModelVersion != set.VersionFor(e.UserId)))
            {
                var request = new AdaptRequest
                {
                    UserId = user,
                    Interactions = interactions,
                    TriggerEventId = $"model-switch:{set.VersionFor(user)}",
                    TriggerEventTime = time.GetUtcNow(),
                };
                producer.Produce(kafka.Value.AdaptRequestsTopic, new Message<string?, byte[]> { Key = user, Value = JsonSerializer.SerializeToUtf8Bytes(request) });
                requested++;
                AdapterMetrics.StaleReadapts.Inc();
            }

            // Pace the requests so a switch does not flood the Adapters ahead of new users.
            var due = TimeSpan.FromSeconds((double)requested / options.Value.StaleReadaptPerSecond);
            var elapsed = time.GetElapsedTime(started);
            if (due > elapsed)
            {
                await Task.Delay(due - elapsed, time, stoppingToken).ConfigureAwait(false);
            }
        }

        producer.Flush(stoppingToken);
        return requested;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Model switch to {Active}: re-adaptation requested for {Users} users whose cached fast weights came from another version")]
    private partial void LogSwept(string active, int users);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweep of stale fast weights failed, retried at the next switch: {Reason}")]
    private partial void LogFailed(string reason);
}

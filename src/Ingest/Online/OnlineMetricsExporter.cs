using Microsoft.Extensions.Options;
using Streaming.Shared.Online;
using Streaming.Shared.Sessions;

namespace Streaming.Ingest.Online;

/// <summary>
/// Copies the online figures per arm from the session store into Ingest's <c>/metrics</c> every
/// <see cref="IngestOptions.OnlineMetricsSeconds"/> (a <see cref="PeriodicTimer"/> on the injected clock). The
/// figures are global (every replica reads the same sums), so dashboards take their max, not their sum. The
/// labels are the version and the canary window: a few values, never a user.
/// </summary>
public sealed partial class OnlineMetricsExporter(ISessionStore store, IOptions<IngestOptions> options, TimeProvider time, ILogger<OnlineMetricsExporter> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.OnlineMetricsSeconds), time);
        do
        {
            try
            {
                Export(await store.ReadTalliesAsync().ConfigureAwait(false));
            }
            catch (StackExchange.Redis.RedisException e)
            {
                LogUnavailable(e.Message);   // Redis away: the consume loop reports it; the figures wait for the next tick
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>Sets the gauges of every arm.</summary>
    public static void Export(IReadOnlyList<ArmTally> tallies)
    {
        ArgumentNullException.ThrowIfNull(tallies);
        foreach (var t in tallies)
        {
            string[] labels = [t.Version, t.Window ?? ""];
            IngestMetrics.OnlineUsers.WithLabels(labels).Set(t.Users);
            IngestMetrics.OnlineEvents.WithLabels(labels).Set(t.Events);
            IngestMetrics.OnlineRatedEvents.WithLabels(labels).Set(t.Rated);
            IngestMetrics.OnlineHitRate.WithLabels(labels).Set(t.HitRate);
            IngestMetrics.OnlineMrr.WithLabels(labels).Set(t.Mrr);
            IngestMetrics.OnlineMae.WithLabels(labels).Set(t.Mae);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Online figures not refreshed: {Reason}")]
    private partial void LogUnavailable(string reason);
}

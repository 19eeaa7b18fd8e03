using Microsoft.Extensions.Options;
using Streaming.Shared.Registry;

namespace Streaming.MetaTrainer;

/// <summary>
/// Policy auto in periodic mode: looks at the canary's live figures every
/// <see cref="MetaTrainerOptions.AutoJudgeIntervalSeconds"/> (a <see cref="PeriodicTimer"/> on the injected
/// clock), between training runs, through <see cref="TrainingCycle.JudgeCanaryAsync"/>. A look that fails (Redis
/// or the registry away) is logged and the next one tried on schedule.
/// </summary>
public sealed partial class CanaryJudgeWorker(TrainingCycle cycle, IOptions<MetaTrainerOptions> options, TimeProvider time, ILogger<CanaryJudgeWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.AutoJudgeIntervalSeconds), time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                var registry = await ModelRegistryFactory.OpenAsync(options.Value.Registry, create: true, time).ConfigureAwait(false);
                await using (registry.ConfigureAwait(false))
                {
                    if (await cycle.JudgeCanaryAsync(registry, TrainingRunLog.For(registry), stoppingToken).ConfigureAwait(false) is { } decision)
                    {
                        LogDecision(decision.Canary, decision.Reason);
                    }
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Canary {Canary}: {Reason}")]
    private partial void LogDecision(string canary, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Judging the canary failed; the next look is on schedule: {Reason}")]
    private partial void LogFailed(string reason);
}

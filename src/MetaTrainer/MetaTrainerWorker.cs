using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Streaming.Shared.Registry;

namespace Streaming.MetaTrainer;

/// <summary>
/// Periodic mode: one run at start-up, then one every <see cref="MetaTrainerOptions.IntervalMinutes"/> on a
/// <see cref="PeriodicTimer"/> driven by the injected <see cref="TimeProvider"/>. A run longer than the interval
/// delays the next tick rather than overlapping it. A failed run is recorded and the next one is tried on
/// schedule; shutdown stops a run after its current training batch, and nothing of it is published.
/// </summary>
public sealed class MetaTrainerWorker(TrainingCycle cycle, IOptions<MetaTrainerOptions> options, TrainerHealth health, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();   // start-up completes; the first run goes on in the background
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(options.Value.IntervalMinutes), time);
        do
        {
            health.Record(await cycle.RunAsync(stoppingToken).ConfigureAwait(false));
        }
        while (!stoppingToken.IsCancellationRequested && await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}

/// <summary>
/// What /health says about the trainer: healthy until a run fails, degraded (with the reason) while the last run
/// failed. A refused candidate is the gate working, not a health problem.
/// </summary>
public sealed class TrainerHealth : IHealthCheck
{
    private volatile TrainingRun? last;

    public void Record(TrainingRun run) => last = run;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(last is { Outcome: TrainingRunOutcome.Failed } failed
            ? HealthCheckResult.Degraded($"the last training run ({failed.RunId}) failed: {failed.Reason}")
            : HealthCheckResult.Healthy(last is null ? "no run finished yet" : $"last run {last.RunId}: {last.Outcome}"));
}

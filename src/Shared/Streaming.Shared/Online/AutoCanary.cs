using System.Globalization;
using Streaming.Shared.Registry;

namespace Streaming.Shared.Online;

/// <summary>
/// The automated canary: reads the routing and the live figures, asks <see cref="CanaryJudge"/>, acts (promote
/// the canary, or end it), and records every decision with its figures in the registry's run log. Acting is a
/// compare-and-set on the routing: nothing happens when someone changed the active version or the canary
/// since it was read. Used by <c>streaming models canary --auto</c> and the MetaTrainer's <c>auto</c> policy.
/// </summary>
/// <param name="registry">The registry whose canary is judged.</param>
/// <param name="tallies">The online figures (the session store's: <see cref="OnlineTallies.ReadAsync"/>).</param>
/// <param name="runs">Where decisions are recorded.</param>
/// <param name="options">Confidence, fewest users, mixture scale.</param>
/// <param name="time">The clock of decisions and of <see cref="RunUntilDecidedAsync"/>.</param>
public sealed class AutoCanary(IModelRegistry registry, Func<Task<IReadOnlyList<ArmTally>>> tallies, ITrainingRunLog runs, CanaryJudgeOptions options, TimeProvider time)
{
    /// <summary>One look: judges the current canary, acts on the decision and records it; null when there is no canary to judge.</summary>
    public async Task<CanaryDecision?> StepAsync(CancellationToken cancellationToken = default)
    {
        var routing = await registry.GetRoutingAsync(cancellationToken).ConfigureAwait(false);
        if (routing is not { Canary: { } canary, Active: { } active })
        {
            return null;
        }

        var arms = (await tallies().ConfigureAwait(false)).ToDictionary(t => t.Arm, StringComparer.Ordinal);
        var decision = CanaryJudge.Judge(
            canary, active, arms.GetValueOrDefault(OnlineLayout.Arm(canary, canary)), arms.GetValueOrDefault(OnlineLayout.Arm(active, canary)), options, time.GetUtcNow());
        string outcome = decision.Action switch
        {
            CanaryAction.Promote => await PromoteAsync(canary, active, cancellationToken).ConfigureAwait(false),
            CanaryAction.Rollback => await EndAsync(canary, cancellationToken).ConfigureAwait(false),
            _ => string.Create(CultureInfo.InvariantCulture, $"canary {canary} ({routing.CanaryPercent:0.##}%) kept"),
        };
        await runs.AppendAsync(new TrainingRun
        {
            RunId = TrainingRunLog.NewRunId(decision.DecidedAt),
            Outcome = TrainingRunOutcome.CanaryDecision,
            StartedAt = decision.DecidedAt,
            ParentVersion = active,
            Version = canary,
            Rollout = outcome,
            Reason = decision.Reason,
            Decision = decision,
        }, cancellationToken).ConfigureAwait(false);
        return decision;
    }

    /// <summary>
    /// Looks every <paramref name="interval"/> (a <see cref="PeriodicTimer"/> on the injected clock) until a
    /// decision other than waiting, no canary left, or <paramref name="maxWait"/> passed; returns the last decision.
    /// </summary>
    public async Task<CanaryDecision?> RunUntilDecidedAsync(TimeSpan interval, TimeSpan maxWait, Action<CanaryDecision>? looked = null, CancellationToken cancellationToken = default)
    {
        var started = time.GetTimestamp();
        using var timer = new PeriodicTimer(interval, time);
        while (true)
        {
            var decision = await StepAsync(cancellationToken).ConfigureAwait(false);
            bool timeUp = time.GetElapsedTime(started) >= maxWait;   // read before the callback, which may move a test's clock
            if (decision is not null)
            {
                looked?.Invoke(decision);
            }

            if (decision is null or { Action: not CanaryAction.Wait } || timeUp)
            {
                return decision;
            }

            await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // Promoting ends the canary (it is the active version now); only if the active version is still the one judged against.
    private async Task<string> PromoteAsync(string canary, string active, CancellationToken cancellationToken)
    {
        var result = await registry.RollOutAsync(canary, new RolloutPlan { Kind = RolloutKind.Promote, ExpectedActive = new ExpectedActive(active) }, cancellationToken).ConfigureAwait(false);
        return result.Conflict is { } changed ? $"none: the active version changed from {active} to {changed}" : $"promoted {canary}: {result.Routing}";
    }

    private async Task<string> EndAsync(string canary, CancellationToken cancellationToken)
    {
        var routing = await registry.UpdateRoutingAsync(
            (current, _) => ValueTask.FromResult(current.Canary == canary ? current with { Canary = null, CanaryPercent = 0 } : null),
            cancellationToken).ConfigureAwait(false);
        return routing.Canary == canary ? $"none: canary {canary} could not be ended" : $"rolled back canary {canary}: {routing}";
    }
}

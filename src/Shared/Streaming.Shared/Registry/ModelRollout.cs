using Streaming.Shared.Models;
using System.Globalization;

namespace Streaming.Shared.Registry;

/// <summary>
/// Promote, canary, rollback: each reads the routing, computes the next one and writes it with compare-and-set,
/// starting over when another writer got in first. No change is ever lost and no state is ever mixed from two
/// writers; the last successful writer wins. All methods are safe to call concurrently from many processes.
/// </summary>
public static class ModelRollout
{
    /// <summary>Compare-and-set attempts before giving up (only reached under a storm of concurrent writers).</summary>
    public const int MaxAttempts = 1000;

    /// <summary>
    /// Makes <paramref name="version"/> the active version. The previous active version goes to the front of the
    /// history (for <see cref="RollbackAsync"/>); a canary of the same version ends, since everyone now gets it.
    /// Promoting the active version changes nothing. The version is downloaded and checked first
    /// (<see cref="VerifyAsync"/>): a corrupt or altered one is refused before the routing changes.
    /// </summary>
    /// <param name="registry">The registry.</param>
    /// <param name="version">The version to activate.</param>
    /// <param name="gate">When given, refuses a version that is worse than the active one (checked against the active version at the moment of the write).</param>
    /// <param name="cancellationToken">Cancels between attempts.</param>
    /// <returns>The routing after the change.</returns>
    /// <exception cref="ArgumentException">Unknown version.</exception>
    /// <exception cref="InvalidDataException">The version's stored file is corrupt, altered or not a readable model.</exception>
    /// <exception cref="PromotionRefusedException">The gate refused the version.</exception>
    public static async Task<ModelRouting> PromoteAsync(this IModelRegistry registry, string version, PromotionGate? gate = null, CancellationToken cancellationToken = default) =>
        (await registry.RollOutAsync(version, new RolloutPlan { Kind = RolloutKind.Promote, Gate = gate }, cancellationToken).ConfigureAwait(false)).Routing;

    /// <summary>
    /// Serves <paramref name="version"/> to <paramref name="percent"/> % of users (chosen by <see cref="CanarySplit"/>),
    /// replacing any other canary. Needs an active version for everyone else. The version is verified first, as by
    /// <see cref="PromoteAsync"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown version, or a percentage outside (0, 100].</exception>
    /// <exception cref="InvalidOperationException">No active version yet, or <paramref name="version"/> is the active one.</exception>
    /// <exception cref="InvalidDataException">The version's stored file is corrupt, altered or not a readable model.</exception>
    /// <exception cref="PromotionRefusedException">The gate refused the version.</exception>
    public static async Task<ModelRouting> SetCanaryAsync(this IModelRegistry registry, string version, double percent, PromotionGate? gate = null, CancellationToken cancellationToken = default) =>
        (await registry.RollOutAsync(version, new RolloutPlan { Kind = RolloutKind.Canary, CanaryPercent = percent, Gate = gate }, cancellationToken).ConfigureAwait(false)).Routing;

    /// <summary>
    /// Downloads <paramref name="version"/> (the registry checks its SHA-256 against the one recorded at push) and
    /// inspects the file in full (<see cref="ModelFile.Inspect"/>): what every Adapter will do before serving it.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown version.</exception>
    /// <exception cref="InvalidDataException">Corrupt, altered or not a readable model; the message says why.</exception>
    public static async Task<ModelManifest> VerifyAsync(this IModelRegistry registry, string version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        byte[] bytes = await registry.DownloadAsync(version, cancellationToken).ConfigureAwait(false);
        return ModelFile.Inspect(bytes, $"model {version} in {registry.Description}");
    }

    /// <summary>
    /// The one roll-out path (the CLI's <c>models push/promote/canary</c> and the MetaTrainer use it): pushes
    /// <paramref name="modelFile"/> as a new version, then applies <paramref name="plan"/> to it.
    /// </summary>
    /// <param name="registry">The registry.</param>
    /// <param name="modelFile">The model file (checked in full by the push).</param>
    /// <param name="options">Parent, metrics, notes.</param>
    /// <param name="plan">What to do with the new version.</param>
    /// <param name="pushed">Told about the new version as soon as it is stored, before the roll-out (for progress output).</param>
    /// <param name="cancellationToken">Cancellation.</param>
    /// <returns>The new version and what the roll-out did (the version stays pushed when the roll-out is refused).</returns>
    /// <exception cref="PromotionRefusedException">The gate refused the version (it is pushed, not routed).</exception>
    public static async Task<(RegisteredModel Model, RolloutResult Rollout)> PushAndRollOutAsync(
        this IModelRegistry registry, byte[] modelFile, ModelPushOptions options, RolloutPlan plan, Action<RegisteredModel>? pushed = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var model = await registry.PushAsync(modelFile, options, cancellationToken).ConfigureAwait(false);
        pushed?.Invoke(model);
        return (model, await registry.RollOutAsync(model.Version, plan, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// Applies <paramref name="plan"/> to <paramref name="version"/>: verifies the version (<see cref="VerifyAsync"/>),
    /// then changes the routing by compare-and-set, checking the gate and, when the plan has one, that the active
    /// version is still the expected one (otherwise nothing changes and <see cref="RolloutResult.Conflict"/> says what
    /// is active instead).
    /// </summary>
    /// <exception cref="ArgumentException">Unknown version, or a canary percentage outside (0, 100].</exception>
    /// <exception cref="InvalidOperationException">A canary without an active version, or of the active version.</exception>
    /// <exception cref="InvalidDataException">The version's stored file is corrupt, altered or not a readable model.</exception>
    /// <exception cref="PromotionRefusedException">The gate refused the version.</exception>
    public static async Task<RolloutResult> RollOutAsync(this IModelRegistry registry, string version, RolloutPlan plan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.Kind == RolloutKind.None)
        {
            return new RolloutResult(await registry.GetRoutingAsync(cancellationToken).ConfigureAwait(false), Changed: false, Conflict: null);
        }

        double percent = plan.CanaryPercent;
        if (plan.Kind == RolloutKind.Canary && (!double.IsFinite(percent) || percent is <= 0 or > 100))
        {
            throw new ArgumentException($"canary percentage {percent.ToString(CultureInfo.InvariantCulture)} is outside (0, 100]", nameof(plan));
        }

        var candidate = await RequireAsync(registry, version, cancellationToken).ConfigureAwait(false);
        await registry.VerifyAsync(version, cancellationToken).ConfigureAwait(false);
        string? conflict = null;
        long before = -1;
        var routing = await registry.UpdateRoutingAsync(async (current, ct) =>
        {
            before = current.Revision;
            conflict = plan.ExpectedActive is { } expected && current.Active != expected.Version ? current.Active ?? "none" : null;
            if (conflict is not null)
            {
                return null;
            }

            if (plan.Kind == RolloutKind.Promote)
            {
                if (current.Active == version)
                {
                    return null;
                }

                await CheckGateAsync(registry, plan.Gate, candidate, current, ct).ConfigureAwait(false);
                bool endsCanary = current.Canary == version;
                return current with
                {
                    Active = version,
                    History = current.Active is null ? current.History : [current.Active, .. current.History.Take(ModelRouting.MaxHistory - 1)],
                    Canary = endsCanary ? null : current.Canary,
                    CanaryPercent = endsCanary ? 0 : current.CanaryPercent,
                };
            }

            if (current.Active is null)
            {
                throw new InvalidOperationException($"{registry.Description} has no active version: promote one before starting a canary");
            }

            if (current.Active == version)
            {
                throw new InvalidOperationException($"{version} is the active version already; a canary must be another version");
            }

            if (current.Canary == version && current.CanaryPercent == percent)
            {
                return null;
            }

            await CheckGateAsync(registry, plan.Gate, candidate, current, ct).ConfigureAwait(false);
            return current with { Canary = version, CanaryPercent = percent };
        }, cancellationToken).ConfigureAwait(false);
        return new RolloutResult(routing, Changed: routing.Revision != before, conflict);
    }

    /// <summary>Ends the canary: everyone gets the active version. Changes nothing when there is no canary.</summary>
    public static Task<ModelRouting> ClearCanaryAsync(this IModelRegistry registry, CancellationToken cancellationToken = default) =>
        registry.UpdateRoutingAsync(
            (current, _) => ValueTask.FromResult(current.Canary is null ? null : current with { Canary = null, CanaryPercent = 0 }),
            cancellationToken);

    /// <summary>
    /// Makes the previously active version active again and drops it from the history. The version rolled back
    /// from is not kept for a "roll forward": promote it explicitly. A canary of the restored version ends.
    /// </summary>
    /// <exception cref="InvalidOperationException">There is no previous active version.</exception>
    public static Task<ModelRouting> RollbackAsync(this IModelRegistry registry, CancellationToken cancellationToken = default) =>
        registry.UpdateRoutingAsync((current, _) =>
        {
            if (current.History.Count == 0)
            {
                throw new InvalidOperationException($"nothing to roll back to: {registry.Description} has no previous active version");
            }

            string previous = current.History[0];
            bool endsCanary = current.Canary == previous;
            return ValueTask.FromResult<ModelRouting?>(current with
            {
                Active = previous,
                History = current.History.Skip(1).ToArray(),
                Canary = endsCanary ? null : current.Canary,
                CanaryPercent = endsCanary ? 0 : current.CanaryPercent,
            });
        }, cancellationToken);

    /// <summary>
    /// The compare-and-set loop under every rollout operation: reads the routing, asks <paramref name="change"/> for
    /// the next one (null: nothing to do) and writes it if nobody changed the routing meanwhile; otherwise starts
    /// over, so <paramref name="change"/> may run several times and must not have side effects.
    /// </summary>
    /// <returns>The routing as stored (or as read, when <paramref name="change"/> returned null).</returns>
    public static async Task<ModelRouting> UpdateRoutingAsync(this IModelRegistry registry, Func<ModelRouting, CancellationToken, ValueTask<ModelRouting?>> change, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(change);
        for (int attempt = 1; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var current = await registry.GetRoutingAsync(cancellationToken).ConfigureAwait(false);
            var next = await change(current, cancellationToken).ConfigureAwait(false);
            if (next is null)
            {
                return current;
            }

            if (await registry.TryUpdateRoutingAsync(current.Revision, next, cancellationToken).ConfigureAwait(false) is { } stored)
            {
                return stored;
            }

            if (attempt == MaxAttempts)
            {
                throw new InvalidOperationException($"{registry.Description}: the routing changed under every one of {MaxAttempts} attempts");
            }
        }
    }

    private static async Task<RegisteredModel> RequireAsync(IModelRegistry registry, string version, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(version);
        return await registry.FindAsync(version, cancellationToken).ConfigureAwait(false) ?? throw ModelVersions.Unknown(version, registry.Description);
    }

    private static async Task CheckGateAsync(IModelRegistry registry, PromotionGate? gate, RegisteredModel candidate, ModelRouting current, CancellationToken cancellationToken)
    {
        if (gate is null || current.Active is null)
        {
            return;
        }

        var active = await registry.FindAsync(current.Active, cancellationToken).ConfigureAwait(false);
        if (gate.Refusal(candidate, active) is { } reason)
        {
            throw new PromotionRefusedException(reason);
        }
    }
}

/// <summary>What a roll-out does with a version.</summary>
public enum RolloutKind
{
    /// <summary>Nothing: the version is published for a person to promote.</summary>
    None,

    /// <summary>Make it the active version.</summary>
    Promote,

    /// <summary>Serve it to a share of users next to the active version.</summary>
    Canary,
}

/// <summary>The active version a roll-out expects to find (null <paramref name="Version"/>: none yet).</summary>
public sealed record ExpectedActive(string? Version);

/// <summary>A roll-out: promote or canary, subject to an optional gate and an optional expected active version (compare-and-set).</summary>
public sealed record RolloutPlan
{
    public RolloutKind Kind { get; init; }

    /// <summary>For <see cref="RolloutKind.Canary"/>: the share of users, in (0, 100].</summary>
    public double CanaryPercent { get; init; }

    /// <summary>Refuses a version worse than the active one; null: no gate.</summary>
    public PromotionGate? Gate { get; init; }

    /// <summary>
    /// When set, the routing changes only if the active version is still this one (the version the candidate was
    /// judged against): a trainer's candidate is not routed over a version someone promoted during its run.
    /// </summary>
    public ExpectedActive? ExpectedActive { get; init; }
}

/// <summary>What a roll-out did.</summary>
/// <param name="Routing">The routing afterwards.</param>
/// <param name="Changed">Whether the routing changed (false: it was already so, or a conflict).</param>
/// <param name="Conflict">The active version found instead of the expected one ("none" for none); null when there was no conflict.</param>
public sealed record RolloutResult(ModelRouting Routing, bool Changed, string? Conflict);

/// <summary>
/// A quality gate: a version may replace (or be canaried against) the active one only if one metric is not worse
/// by more than <see cref="Tolerance"/>. Metrics compare only when both versions were measured on the same users:
/// validation metrics of models trained on the same data and split, or an evaluation the pusher ran for both.
/// </summary>
public sealed record PromotionGate
{
    /// <summary>Validation MAE, at most 0.01 worse than the active version's.</summary>
    public static PromotionGate Default { get; } = new();

    /// <summary>The metric compared (a key of <see cref="RegisteredModel.Metrics"/>).</summary>
    public string Metric { get; init; } = MetricNames.ValidationMae;

    /// <summary>False for errors (MAE, RMSE), true for scores (nDCG).</summary>
    public bool HigherIsBetter { get; init; }

    /// <summary>How much worse than the active version the candidate may be.</summary>
    public double Tolerance { get; init; } = 0.01;

    /// <summary>
    /// Null when <paramref name="candidate"/> may replace <paramref name="active"/>, otherwise why not. A candidate
    /// without the metric is refused when the active version has it; an active version without it lets anything pass.
    /// </summary>
    public string? Refusal(RegisteredModel candidate, RegisteredModel? active)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        if (active is null || active.Version == candidate.Version || active.Metric(Metric) is not double theirs || !double.IsFinite(theirs))
        {
            return null;
        }

        if (candidate.Metric(Metric) is not double mine || !double.IsFinite(mine))
        {
            return $"gate refused {candidate.Version}: it has no {Metric} to compare with the active {active.Version} ({theirs:F4})";
        }

        double worse = HigherIsBetter ? theirs - mine : mine - theirs;
        return worse > Tolerance
            ? string.Create(CultureInfo.InvariantCulture, $"gate refused {candidate.Version}: {Metric} {mine:F4} is worse than the active {active.Version}'s {theirs:F4} by {worse:F4} (tolerance {Tolerance})")
            : null;
    }
}

/// <summary>A <see cref="PromotionGate"/> refused a version; the message says which metric and by how much.</summary>
public sealed class PromotionRefusedException : InvalidOperationException
{
    public PromotionRefusedException()
    {
    }

    public PromotionRefusedException(string message) : base(message)
    {
    }

    public PromotionRefusedException(string message, Exception innerException) : base(message, innerException)
    {
    }
}

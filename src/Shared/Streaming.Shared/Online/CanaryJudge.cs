using System.ComponentModel.DataAnnotations;
using System.Globalization;

namespace Streaming.Shared.Online;

/// <summary>What the automated canary does after looking at the live figures.</summary>
public enum CanaryAction
{
    /// <summary>Not enough evidence either way (or too few users): keep serving the canary.</summary>
    Wait,

    /// <summary>The canary is better with the configured confidence: make it the active version.</summary>
    Promote,

    /// <summary>The canary is worse with the configured confidence: end it (everyone gets the active version).</summary>
    Rollback,
}

/// <summary>How the automated canary judges (the CLI's <c>--auto</c> options, the MetaTrainer's <c>Auto*</c> settings).</summary>
public sealed record CanaryJudgeOptions
{
    /// <summary>Confidence of a decision (1 - alpha): the chance of ever acting on a canary no better or worse than the active version is at most alpha, however often it is looked at.</summary>
    [Range(0.5, 0.9999)]
    public double Confidence { get; init; } = 0.95;

    /// <summary>Fewest users each of canary and active must have behind their figures before anything is decided.</summary>
    [Range(1, 10_000_000)]
    public int MinUsers { get; init; } = 100;

    /// <summary>
    /// The mixture's scale (tau), in hit rate: the size of difference the test is quickest to see (0.05: five
    /// points of per-user hit rate). A wrong guess costs time, never validity.
    /// </summary>
    [Range(0.001, 1.0)]
    public double MixtureScale { get; init; } = 0.05;
}

/// <summary>A decision of the automated canary, with the figures it rests on (what the run log keeps).</summary>
/// <param name="Action">What was decided.</param>
/// <param name="Canary">The canary version judged.</param>
/// <param name="Active">The active version it was compared with, on the lists served in the canary's window.</param>
/// <param name="Reason">One line for people.</param>
/// <param name="CanaryUsers">Users behind the canary's figure.</param>
/// <param name="ActiveUsers">Users behind the active version's figure (in the same window).</param>
/// <param name="CanaryHitRate">Mean per-user hit rate of the canary.</param>
/// <param name="ActiveHitRate">Mean per-user hit rate of the active version.</param>
/// <param name="Difference">Canary minus active.</param>
/// <param name="Lower">Lower end of the always-valid confidence interval of the difference.</param>
/// <param name="Upper">Upper end.</param>
/// <param name="Confidence">The interval's confidence.</param>
/// <param name="DecidedAt">When (the injected clock).</param>
public sealed record CanaryDecision(
    CanaryAction Action,
    string Canary,
    string Active,
    string Reason,
    long CanaryUsers,
    long ActiveUsers,
    double CanaryHitRate,
    double ActiveHitRate,
    double Difference,
    double Lower,
    double Upper,
    double Confidence,
    DateTimeOffset DecidedAt);

/// <summary>
/// The automated canary's sequential test: canary against active on the same live window (the lists each served
/// while the canary ran), on the difference of their mean per-user hit rates, with a mixture sequential
/// probability ratio test (Robbins' normal mixture; Johari et al., "Always valid inference", 2017). Its
/// confidence sequence is valid at every look, so the test may be run every minute without inflating the
/// error: it promotes when the whole interval is above 0, rolls back when it is below, and waits otherwise,
/// never with fewer than <see cref="CanaryJudgeOptions.MinUsers"/> users per side. Pure: no I/O, no clock.
/// </summary>
public static class CanaryJudge
{
    // Keeps the interval finite when every user of both sides has the same rate (a tie then waits).
    private const double VarianceFloor = 1e-9;

    /// <summary>Judges the canary's arm against the active version's arm (either may be missing: no outcomes yet).</summary>
    public static CanaryDecision Judge(string canary, string active, ArmTally? canaryArm, ArmTally? activeArm, CanaryJudgeOptions options, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(options);
        long n1 = canaryArm?.Users ?? 0, n2 = activeArm?.Users ?? 0;
        double m1 = canaryArm?.MeanUserHitRate ?? double.NaN, m2 = activeArm?.MeanUserHitRate ?? double.NaN;
        CanaryDecision Decision(CanaryAction action, string reason, double d = double.NaN, double low = double.NaN, double high = double.NaN) =>
            new(action, canary, active, reason, n1, n2, m1, m2, d, low, high, options.Confidence, now);

        if (n1 < options.MinUsers || n2 < options.MinUsers)
        {
            return Decision(CanaryAction.Wait, string.Create(CultureInfo.InvariantCulture,
                $"waiting: {n1} canary and {n2} active users have outcomes, {options.MinUsers} each are needed"));
        }

        double variance = Math.Max(VarianceFloor, (canaryArm!.UserHitRateVariance / n1) + (activeArm!.UserHitRateVariance / n2));
        double difference = m1 - m2;
        double radius = Radius(variance, options.MixtureScale * options.MixtureScale, 1 - options.Confidence);
        double low = difference - radius, high = difference + radius;
        string figures = string.Create(CultureInfo.InvariantCulture,
            $"per-user hit rate {m1:F4} ({n1} users) against {m2:F4} ({n2} users): difference {difference:+0.0000;-0.0000}, {options.Confidence:P0} always-valid interval [{low:+0.0000;-0.0000}, {high:+0.0000;-0.0000}]");
        return low > 0 ? Decision(CanaryAction.Promote, $"promote {canary}: better than {active}, {figures}", difference, low, high)
            : high < 0 ? Decision(CanaryAction.Rollback, $"roll back {canary}: worse than {active}, {figures}", difference, low, high)
            : Decision(CanaryAction.Wait, $"waiting: no difference shown yet, {figures}", difference, low, high);
    }

    /// <summary>
    /// Half-width of the confidence sequence: the differences <c>d</c> whose mixture likelihood ratio
    /// <c>sqrt(V / (V + tau^2)) exp(tau^2 d^2 / (2 V (V + tau^2)))</c> stays below <c>1 / alpha</c>.
    /// </summary>
    public static double Radius(double variance, double tauSquared, double alpha) =>
        Math.Sqrt(2 * variance * (variance + tauSquared) / tauSquared * (Math.Log(1 / alpha) + (0.5 * Math.Log((variance + tauSquared) / variance))));
}

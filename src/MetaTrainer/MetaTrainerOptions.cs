using System.ComponentModel.DataAnnotations;
using Streaming.Shared.Registry;

namespace Streaming.MetaTrainer;

/// <summary>What the trainer does with a candidate that passed the gate.</summary>
public static class RolloutPolicy
{
    /// <summary>Serve it to <see cref="MetaTrainerOptions.CanaryPercent"/> % of users (the default).</summary>
    public const string Canary = "canary";

    /// <summary>Make it the active version for everyone.</summary>
    public const string Promote = "promote";

    /// <summary>Only push it; a person promotes it (<c>streaming models promote</c>).</summary>
    public const string PublishOnly = "publish-only";

    /// <summary>
    /// Make it the canary, then let the live figures decide (<see cref="Shared.Online.AutoCanary"/>, every
    /// <see cref="MetaTrainerOptions.AutoJudgeIntervalSeconds"/> and at the start of every run): promoted when
    /// better, rolled back when worse. A canary still being judged is not replaced by the next candidate.
    /// </summary>
    public const string Auto = "auto";
}

/// <summary>
/// Configuration section <c>MetaTrainer</c> (env: <c>MetaTrainer__Registry</c>, ...). The trainer also reads the
/// sections <c>Redis</c> (the session store: <c>Configuration</c>, <c>KeyPrefix</c>) and <c>Sessions</c>
/// (<c>MaxHistory</c>).
/// </summary>
public sealed class MetaTrainerOptions : IValidatableObject
{
    public const string Section = "MetaTrainer";

    /// <summary>The model registry: <c>redis://host:port[/prefix]</c>, <c>redis:&lt;configuration&gt;</c> or a directory.</summary>
    public string Registry { get; set; } = "";

    /// <summary>The item catalogue that sessions are encoded with: a data folder, or "synthetic" (as Ingest and the Adapter).</summary>
    public string Catalogue { get; set; } = "";

    /// <summary>Minutes between runs in periodic mode (the first run starts at start-up).</summary>
    [Range(1, 7 * 24 * 60, ErrorMessage = "MetaTrainer:IntervalMinutes must be in 1..10080")]
    public int IntervalMinutes { get; set; } = 60;

    /// <summary>Run one cycle and exit (a Kubernetes CronJob); also set by the <c>--once</c> flag.</summary>
    public bool Once { get; set; }

    /// <summary>Fewest interactions (on catalogue items) a user needs to be a task: the MeLU protocol's 13 (10 of them are the query).</summary>
    [Range(11, 10_000, ErrorMessage = "MetaTrainer:MinInteractions must be in 11..10000 (the query set alone takes 10)")]
    public int MinInteractions { get; set; } = 13;

    /// <summary>Most users sampled per run (a uniform sample of the eligible ones): bounds the run's memory and time.</summary>
    [Range(1, 1_000_000, ErrorMessage = "MetaTrainer:MaxTasks must be in 1..1000000")]
    public int MaxTasks { get; set; } = 20_000;

    /// <summary>Only users whose newest interaction is at most this many days old are sampled.</summary>
    [Range(1, 3650, ErrorMessage = "MetaTrainer:RecentDays must be in 1..3650")]
    public int RecentDays { get; set; } = 30;

    /// <summary>
    /// Share of users held out for evaluating candidate and parent, chosen by a stable hash of the user id, so the
    /// same users are held out in every run and no version in the lineage has trained on them.
    /// </summary>
    [Range(0.01, 0.5, ErrorMessage = "MetaTrainer:EvaluationFraction must be in 0.01..0.5")]
    public double EvaluationFraction { get; set; } = 0.15;

    /// <summary>Share of users held out (the same way) for early stopping and the best checkpoint.</summary>
    [Range(0.01, 0.5, ErrorMessage = "MetaTrainer:ValidationFraction must be in 0.01..0.5")]
    public double ValidationFraction { get; set; } = 0.1;

    /// <summary>Fewest held-out evaluation users for the gate to judge a candidate at all.</summary>
    [Range(1, 1_000_000, ErrorMessage = "MetaTrainer:MinEvaluationUsers must be in 1..1000000")]
    public int MinEvaluationUsers { get; set; } = 100;

    /// <summary>How much higher than the parent's the candidate's held-out MAE may be.</summary>
    [Range(0.0, 5.0, ErrorMessage = "MetaTrainer:MaxMaeRegression must be in 0..5")]
    public double MaxMaeRegression { get; set; } = 0.005;

    /// <summary>How much lower than the parent's the candidate's held-out nDCG@3 may be.</summary>
    [Range(0.0, 1.0, ErrorMessage = "MetaTrainer:MaxNdcgRegression must be in 0..1")]
    public double MaxNdcgRegression { get; set; } = 0.005;

    /// <summary>canary, promote, publish-only or auto (see <see cref="RolloutPolicy"/>). With no active version yet, canary and auto promote.</summary>
    [RegularExpression("^(canary|promote|publish-only|auto)$", ErrorMessage = "MetaTrainer:Policy must be canary, promote, publish-only or auto")]
    public string Policy { get; set; } = RolloutPolicy.Canary;

    /// <summary>Policy auto: the confidence of a promotion or rollback (always valid, however often the canary is judged).</summary>
    [Range(0.5, 0.9999, ErrorMessage = "MetaTrainer:AutoConfidence must be in 0.5..0.9999")]
    public double AutoConfidence { get; set; } = 0.95;

    /// <summary>Policy auto: fewest users each of canary and active need before anything is decided.</summary>
    [Range(1, 10_000_000, ErrorMessage = "MetaTrainer:AutoMinUsers must be in 1..10000000")]
    public int AutoMinUsers { get; set; } = 100;

    /// <summary>Policy auto: the size of per-user hit-rate difference the sequential test is quickest to see.</summary>
    [Range(0.001, 1.0, ErrorMessage = "MetaTrainer:AutoMixtureScale must be in 0.001..1")]
    public double AutoMixtureScale { get; set; } = 0.05;

    /// <summary>Policy auto, periodic mode: seconds between looks at the canary's live figures.</summary>
    [Range(5, 86_400, ErrorMessage = "MetaTrainer:AutoJudgeIntervalSeconds must be in 5..86400")]
    public int AutoJudgeIntervalSeconds { get; set; } = 300;

    /// <summary>The automated canary's test settings.</summary>
    public Shared.Online.CanaryJudgeOptions JudgeOptions => new() { Confidence = AutoConfidence, MinUsers = AutoMinUsers, MixtureScale = AutoMixtureScale };

    /// <summary>Share of users a canary is served to.</summary>
    [Range(0.01, 100.0, ErrorMessage = "MetaTrainer:CanaryPercent must be in 0.01..100")]
    public double CanaryPercent { get; set; } = 10;

    /// <summary>Most epochs per run.</summary>
    [Range(1, 1000, ErrorMessage = "MetaTrainer:Epochs must be in 1..1000")]
    public int Epochs { get; set; } = 10;

    /// <summary>Epochs without a better validation MAE before a run stops training.</summary>
    [Range(1, 1000, ErrorMessage = "MetaTrainer:Patience must be in 1..1000")]
    public int Patience { get; set; } = 3;

    /// <summary>
    /// Wall-clock budget of a whole run, in minutes: training takes what the sampling left minus a reserve for
    /// evaluation and publishing, and no epoch starts that would end past it.
    /// </summary>
    [Range(1, 24 * 60, ErrorMessage = "MetaTrainer:TimeBudgetMinutes must be in 1..1440")]
    public double TimeBudgetMinutes { get; set; } = 10;

    /// <summary>
    /// Adam's learning rate when warm-starting from the active version; 0 uses the model's own. Smaller than a
    /// fresh training's rate, since it refines a trained model.
    /// </summary>
    [Range(0.0, 1.0, ErrorMessage = "MetaTrainer:WarmStartLearningRate must be in 0..1")]
    public double WarmStartLearningRate { get; set; } = 2e-4;

    /// <summary>Where training runs: auto (cuda when available), cpu or cuda.</summary>
    [RegularExpression("^(auto|cpu|cuda)$", ErrorMessage = "MetaTrainer:Device must be auto, cpu or cuda")]
    public string Device { get; set; } = "auto";

    /// <summary>Seeds sampling, training and the task splits.</summary>
    public int Seed { get; set; } = 1;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrWhiteSpace(Registry))
        {
            yield return new ValidationResult("MetaTrainer:Registry must name the model registry (redis://host:port[/prefix], redis:<configuration> or a directory)", [nameof(Registry)]);
        }
        else if (Parse(Registry) is { } error)
        {
            yield return new ValidationResult($"MetaTrainer:Registry: {error}", [nameof(Registry)]);
        }

        if (string.IsNullOrWhiteSpace(Catalogue))
        {
            yield return new ValidationResult("MetaTrainer:Catalogue must name the item catalogue (a data folder, or synthetic)", [nameof(Catalogue)]);
        }

        if (EvaluationFraction + ValidationFraction > 0.8)
        {
            yield return new ValidationResult("MetaTrainer:EvaluationFraction + MetaTrainer:ValidationFraction must leave at least 20 % of users to train on", [nameof(EvaluationFraction), nameof(ValidationFraction)]);
        }
    }

    private static string? Parse(string registry)
    {
        try
        {
            ModelRegistryFactory.Parse(registry);
            return null;
        }
        catch (ArgumentException e)
        {
            return e.Message;
        }
    }
}

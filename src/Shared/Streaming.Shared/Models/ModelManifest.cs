using System.Text.Json.Nodes;
using Streaming.Shared.Evaluation;

namespace Streaming.Shared.Models;

/// <summary>What a model file says about itself; checked in full before any weight is used.</summary>
public sealed record ModelManifest
{
    /// <summary>
    /// The current file format version. 2 records the network architecture and the method by name
    /// (<see cref="Hyperparameters.Network"/>, <see cref="Hyperparameters.Method"/>); version 1 files are refused
    /// with a message saying to retrain.
    /// </summary>
    public const int CurrentFormatVersion = 2;

    public string Format { get; init; } = ModelFile.FormatName;

    public int FormatVersion { get; init; } = CurrentFormatVersion;

    public required Hyperparameters Hyperparameters { get; init; }

    /// <summary>The feature vocabularies (as written by <see cref="Data.FeatureSpace.ToJson"/>).</summary>
    public required JsonNode Features { get; init; }

    public required TrainingRecord Training { get; init; }

    /// <summary>Quality on the validation users at the saved checkpoint.</summary>
    public PartitionMetrics? Validation { get; init; }

    /// <summary>
    /// Local steps the Adapter serves this model with; null (the default) takes the Adapter's <c>Adapter:Steps</c>.
    /// 0 serves the meta-initialisation without adaptation: a control arm for a canary (the demo's).
    /// </summary>
    public int? ServingSteps { get; init; }

    /// <summary>
    /// Reads the whole-star rating with the least absolute error off the network's expected rating (training writes
    /// rounding). Null (a model trained before it existed): the expected rating is the prediction.
    /// </summary>
    public RatingDecoder? RatingDecoder { get; init; }

    /// <summary>What users below the few-shot threshold are shown.</summary>
    public OnboardingItems? Onboarding { get; init; }

    public required IReadOnlyList<ParameterInfo> Parameters { get; init; }

    /// <summary>Lower-case hex SHA-256 of the weights section.</summary>
    public required string WeightsSha256 { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>A parameter's name and shape, as stored.</summary>
public sealed record ParameterInfo(string Name, long[] Shape);

/// <summary>How and on what a model was trained; enough to reproduce its user split.</summary>
public sealed record TrainingRecord
{
    public string Data { get; init; } = "";

    /// <summary>Fingerprint of the training folder's ratings, so eval can tell whether it sees the same data.</summary>
    public string DataFingerprint { get; init; } = "";

    public int Seed { get; init; }

    public int SplitSeed { get; init; }

    public double ValidationFraction { get; init; }

    public double TestFraction { get; init; }

    public int TrainUsers { get; init; }

    public int ValidationUsers { get; init; }

    public int TestUsers { get; init; }

    public int Epochs { get; init; }

    public int BestEpoch { get; init; }

    public double Seconds { get; init; }

    public string Device { get; init; } = "cpu";
}

/// <summary>One recommended item and its score.</summary>
public readonly record struct ScoredItem(int ItemId, float Score);

/// <summary>
/// What a brand-new user is shown before there is anything to adapt on, carried in the model manifest:
/// MeLU's evidence candidates (best first) and the most popular items (the fallback once a user has seen
/// the candidates).
/// </summary>
public sealed record OnboardingItems(IReadOnlyList<ScoredItem> Evidence, IReadOnlyList<ScoredItem> Popular)
{
    /// <summary>
    /// A user's onboarding list: evidence candidates they have not seen, then popular items, <paramref name="topK"/> in all.
    /// </summary>
    public IReadOnlyList<ScoredItem> For(IReadOnlySet<int> seen, int topK)
    {
        ArgumentNullException.ThrowIfNull(seen);
        var picked = new HashSet<int>();
        return Evidence.Concat(Popular)
            .Where(s => !seen.Contains(s.ItemId) && picked.Add(s.ItemId))
            .Take(topK)
            .ToList();
    }
}

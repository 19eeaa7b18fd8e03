using System.Globalization;
using System.Security.Cryptography;
using Streaming.Shared.Models;

namespace Streaming.Shared.Registry;

/// <summary>
/// One immutable version in the model registry: what the model is, where it came from and how good it was.
/// Written once, with its blob, before the version becomes visible; never changed afterwards.
/// </summary>
public sealed record RegisteredModel
{
    /// <summary>"v1", "v2", ...: allocated by the registry, unique, increasing in push order.</summary>
    public required string Version { get; init; }

    /// <summary>The version this one was derived from (warm start, fine-tuning), when the pusher said so.</summary>
    public string? ParentVersion { get; init; }

    /// <summary>The meta-learning algorithm, as the <c>--algo</c> option spells it (<c>metasgd</c>, <c>maml</c>, ...).</summary>
    public required string Algorithm { get; init; }

    /// <summary>Every hyper-parameter, copied from the model file's manifest.</summary>
    public required Hyperparameters Hyperparameters { get; init; }

    /// <summary>What the model was trained on.</summary>
    public required TrainingWindow Training { get; init; }

    /// <summary>
    /// Evaluation figures by name: the file's validation metrics (<see cref="MetricNames"/>) and whatever the
    /// pusher measured (for example <c>eval.existing.mae</c>).
    /// </summary>
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();

    /// <summary>Lower-case hex SHA-256 of the whole stored model file; checked on every download.</summary>
    public required string Sha256 { get; init; }

    /// <summary>The SHA-256 of the weights section, as the model file's own manifest records it.</summary>
    public required string WeightsSha256 { get; init; }

    public long SizeBytes { get; init; }

    /// <summary>When the version was pushed (the registry's clock).</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Free text from the pusher.</summary>
    public string? Notes { get; init; }

    /// <summary>Where the model came from (a file name, <c>streaming train</c>, the MetaTrainer).</summary>
    public string? Source { get; init; }

    /// <summary>A metric by name, or null when this version has none.</summary>
    public double? Metric(string name) => Metrics.TryGetValue(name, out double value) ? value : null;

    /// <summary>Describes a checked model file as version <paramref name="version"/>.</summary>
    internal static RegisteredModel Describe(string version, byte[] file, ModelManifest manifest, ModelPushOptions options, DateTimeOffset createdAt)
    {
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        if (manifest.Validation is { } validation)
        {
            metrics[MetricNames.ValidationUsers] = validation.Users;
            metrics[MetricNames.ValidationMae] = validation.Mae;
            metrics[MetricNames.ValidationRmse] = validation.Rmse;
            metrics[MetricNames.ValidationNdcg3] = validation.Ndcg3;
        }

        foreach (var (name, value) in options.Metrics ?? new Dictionary<string, double>())
        {
            metrics[name] = value;
        }

        var t = manifest.Training;
        return new RegisteredModel
        {
            Version = version,
            ParentVersion = options.ParentVersion,
            Algorithm = manifest.Hyperparameters.Method,
            Hyperparameters = manifest.Hyperparameters,
            Training = new TrainingWindow
            {
                Data = t.Data,
                DataFingerprint = t.DataFingerprint,
                TrainUsers = t.TrainUsers,
                ValidationUsers = t.ValidationUsers,
                TestUsers = t.TestUsers,
                Seed = t.Seed,
                SplitSeed = t.SplitSeed,
                Epochs = t.Epochs,
                BestEpoch = t.BestEpoch,
                TrainedAt = manifest.CreatedAt,
            },
            Metrics = metrics,
            Sha256 = Convert.ToHexStringLower(SHA256.HashData(file)),
            WeightsSha256 = manifest.WeightsSha256,
            SizeBytes = file.Length,
            CreatedAt = createdAt,
            Notes = options.Notes,
            Source = options.Source,
        };
    }
}

/// <summary>The training data behind a registered model, from the model file's training record.</summary>
public sealed record TrainingWindow
{
    /// <summary>The data source (a folder, <c>synthetic</c>, or the window of events the MetaTrainer used).</summary>
    public string Data { get; init; } = "";

    /// <summary>Fingerprint of the training ratings: equal fingerprints, equal data.</summary>
    public string DataFingerprint { get; init; } = "";

    public int TrainUsers { get; init; }

    public int ValidationUsers { get; init; }

    public int TestUsers { get; init; }

    public int Seed { get; init; }

    public int SplitSeed { get; init; }

    public int Epochs { get; init; }

    public int BestEpoch { get; init; }

    /// <summary>When the model file was written.</summary>
    public DateTimeOffset TrainedAt { get; init; }
}

/// <summary>What a pusher adds to a model file when it registers it.</summary>
public sealed record ModelPushOptions
{
    /// <summary>The version the model was derived from; must exist in the registry.</summary>
    public string? ParentVersion { get; init; }

    /// <summary>Evaluation figures measured by the pusher; they override the file's own of the same name.</summary>
    public IReadOnlyDictionary<string, double>? Metrics { get; init; }

    public string? Notes { get; init; }

    public string? Source { get; init; }
}

/// <summary>Names of the metrics the registry takes from a model file's manifest.</summary>
public static class MetricNames
{
    public const string ValidationUsers = "validation.users";

    public const string ValidationMae = "validation.mae";

    public const string ValidationRmse = "validation.rmse";

    public const string ValidationNdcg3 = "validation.ndcg3";
}

/// <summary>Version names: <c>v</c> and a positive number, so that they sort and cannot name a path.</summary>
public static class ModelVersions
{
    /// <summary>The name of version number <paramref name="number"/>.</summary>
    public static string Format(long number) => "v" + number.ToString(CultureInfo.InvariantCulture);

    /// <summary>Parses "v12" into 12; false for anything else (including "v0", "V1", "v01", "../x").</summary>
    public static bool TryParse(string? version, out long number)
    {
        number = 0;
        return version is { Length: > 1 and < 20 } && version[0] == 'v' && version[1] != '0'
            && !version.AsSpan(1).ContainsAnyExceptInRange('0', '9')
            && long.TryParse(version.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out number);
    }

    /// <summary>The error for a version the registry does not hold.</summary>
    internal static ArgumentException Unknown(string version, string registry) =>
        new($"unknown model version '{version}' in {registry}", nameof(version));
}

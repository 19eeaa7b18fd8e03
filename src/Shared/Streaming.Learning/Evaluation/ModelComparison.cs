using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using Streaming.Learning.Models;
using Streaming.Learning.Serving;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;

namespace Streaming.Learning.Evaluation;

/// <summary>One model of a comparison: what it is, what training it cost, and what <see cref="ColdStartEvaluation"/> measured.</summary>
public sealed record ComparedModel
{
    [JsonPropertyName("label")]
    public required string Label { get; init; }

    [JsonPropertyName("network")]
    public required string Network { get; init; }

    [JsonPropertyName("method")]
    public required string Method { get; init; }

    /// <summary>Completed training epochs, from the model file.</summary>
    [JsonPropertyName("epochs")]
    public int Epochs { get; init; }

    /// <summary>Wall-clock training seconds, from the model file.</summary>
    [JsonPropertyName("train_seconds")]
    public double TrainSeconds { get; init; }

    /// <summary>Per-user adaptation time as the Adapter runs it (batches of 256 held-out users, no scoring).</summary>
    [JsonPropertyName("adapt_ms_per_user")]
    public double AdaptMsPerUser { get; init; }

    /// <summary>Per-user fast state, float32.</summary>
    [JsonPropertyName("state_bytes")]
    public long StateBytes { get; init; }

    [JsonPropertyName("report")]
    public required EvaluationReport Report { get; init; }
}

/// <summary>Several models on the same users and splits, with the baselines measured once in the same run.</summary>
public sealed record ComparisonReport
{
    [JsonPropertyName("data")]
    public required string Data { get; init; }

    [JsonPropertyName("users")]
    public required string Users { get; init; }

    [JsonPropertyName("baselines_fitted_on")]
    public required string BaselinesFittedOn { get; init; }

    /// <summary>What order the support sets are in (the order the sequential networks read).</summary>
    [JsonPropertyName("order")]
    public required string Order { get; init; }

    [JsonPropertyName("models")]
    public required IReadOnlyList<ComparedModel> Models { get; init; }

    [JsonPropertyName("baselines")]
    public required IReadOnlyDictionary<string, PartitionPair> Baselines { get; init; }
}

/// <summary>
/// <c>streaming compare</c>: evaluates several model files on the same users and splits in one run, both partitions
/// (<see cref="ColdStartEvaluation"/> for each; its baselines once, with the first model), plus each model's per-user
/// adaptation time and state size.
/// </summary>
public static class ModelComparison
{
    /// <summary>
    /// Compares <paramref name="models"/> on <paramref name="data"/>. They must record the same data and user split,
    /// so that every model is measured on the same held-out users.
    /// </summary>
    /// <exception cref="ArgumentException">No model, or a model whose data or split differs from the first's (named).</exception>
    public static ComparisonReport Run(IReadOnlyList<(string Label, MetaModel Model)> models, RatingsDataset data, EvaluationOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        if (models.Count == 0)
        {
            throw new ArgumentException("Nothing to compare: give at least one model.", nameof(models));
        }

        var first = models[0].Model.Manifest.Training;
        foreach (var (label, model) in models.Skip(1))
        {
            var t = model.Manifest.Training;
            if (t.DataFingerprint != first.DataFingerprint || t.SplitSeed != first.SplitSeed
                || t.ValidationFraction != first.ValidationFraction || t.TestFraction != first.TestFraction)
            {
                throw new ArgumentException(
                    $"{label}: trained on other data or another user split than {models[0].Label} (data {t.DataFingerprint[..Math.Min(12, t.DataFingerprint.Length)]}, split seed {t.SplitSeed}); its held-out users would differ. Compare models trained on the same split.",
                    nameof(models));
            }
        }

        var compared = new List<ComparedModel>();
        EvaluationReport? withBaselines = null;
        foreach (var (label, model) in models)
        {
            var report = ColdStartEvaluation.Run(model, label, data, options with { IncludeBaselines = withBaselines is null && options.IncludeBaselines }, time);
            withBaselines ??= report;
            var record = model.Manifest.Training;
            compared.Add(new ComparedModel
            {
                Label = label,
                Network = model.Manifest.Hyperparameters.Network,
                Method = model.Manifest.Hyperparameters.Method,
                Epochs = record.Epochs,
                TrainSeconds = record.Seconds,
                AdaptMsPerUser = AdaptationMs(model, data),
                StateBytes = model.Module.FastStateSize * sizeof(float),
                Report = report with { Baselines = new Dictionary<string, PartitionPair>() },   // once, in the comparison
            });
        }

        return new ComparisonReport
        {
            Data = data.Source,
            Users = withBaselines!.Users,
            BaselinesFittedOn = withBaselines.BaselinesFittedOn,
            Order = "support sets in the source's interaction order (the file's within-user order where it has no timestamps)",
            Models = compared,
            Baselines = withBaselines.Baselines,
        };
    }

    /// <summary>
    /// Per-user adaptation time as the Adapter runs it: batches of 256 of the users the evaluation treats as new
    /// (the held-out test users on the model's own data), their existing-item support sets, no scoring.
    /// </summary>
    public static double AdaptationMs(MetaModel model, RatingsDataset data)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        var record = model.Manifest.Training;
        var users = data.Ratings.Select(r => r.UserId).Distinct().ToArray();
        IEnumerable<int> evaluated = record.DataFingerprint == RatingsFingerprint.Of(data)
            ? MeluProtocol.SplitUsers(users, record.ValidationFraction, record.TestFraction, record.SplitSeed).Test
            : users;
        var sessions = MeluProtocol.ExistingItemsTasks(data, evaluated, 1)
            .Select(t => new UserSession(data.Users.GetValueOrDefault(t.UserId) ?? UserProfile.Unknown, t.Support)).ToArray();
        if (sessions.Length == 0)
        {
            return double.NaN;
        }

        using var recommender = new BatchRecommender(model, data.Items.Values);
        recommender.AdaptFastState(sessions[..Math.Min(32, sessions.Length)], model.Module.Hyper.InnerSteps);   // warm-up
        var started = Stopwatch.GetTimestamp();
        foreach (var chunk in sessions.Chunk(256))
        {
            recommender.AdaptFastState(chunk, model.Module.Hyper.InnerSteps);
        }

        return Stopwatch.GetElapsedTime(started).TotalMilliseconds / sessions.Length;
    }

    /// <summary>The comparison as Markdown: one table per partition, models then baselines, with MAE per true rating.</summary>
    public static string Markdown(ComparisonReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"{report.Data}: {report.Users}; {report.Order}.");
        s.AppendLine(CultureInfo.InvariantCulture, $"Baselines fitted on {report.BaselinesFittedOn}.");
        foreach (var (name, existing) in new[] { ("existing items, new users", true), ("new items, new users", false) })
        {
            s.AppendLine();
            s.AppendLine(CultureInfo.InvariantCulture, $"**{name}**");
            s.AppendLine();
            s.AppendLine("| model | epochs | train s | MAE | RMSE | nDCG@3 | recall@10 | recall@20 | nDCG@20 | MAE r=1 | r=2 | r=3 | r=4 | r=5 | adapt ms/user | state bytes |");
            s.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var model in report.Models)
            {
                var m = existing ? model.Report.ExistingItemsNewUsers : model.Report.NewItemsNewUsers;
                s.AppendLine(CultureInfo.InvariantCulture,
                    $"| {model.Label} ({model.Method} on {model.Network}) | {model.Epochs} | {model.TrainSeconds:F0} | {m.Mae:F4} | {m.Rmse:F4} | {m.Ndcg3:F4} | {F(m.TopN?.Recall10)} | {F(m.TopN?.Recall20)} | {F(m.TopN?.Ndcg20)} | {ByRating(m.MaeByRating)} | {model.AdaptMsPerUser:F3} | {model.StateBytes:N0} |");
            }

            foreach (var (baseline, pair) in report.Baselines)
            {
                if ((existing ? pair.ExistingItemsNewUsers : pair.NewItemsNewUsers) is { } b)
                {
                    s.AppendLine(CultureInfo.InvariantCulture,
                        $"| {baseline} |  |  | {F(b.Mae)} | {F(b.Rmse)} | {F(b.Ndcg3)} | {F(b.TopN?.Recall10)} | {F(b.TopN?.Recall20)} | {F(b.TopN?.Ndcg20)} | {ByRating(b.MaeByRating)} |  |  |");
                }
            }
        }

        return s.ToString();
    }

    private static string F(double? value) => value is { } v && double.IsFinite(v) ? v.ToString("F4", CultureInfo.InvariantCulture) : "";

    private static string ByRating(MaeByRating? m) =>
        string.Join(" | ", Enumerable.Range(1, 5).Select(r => m is null ? "" : F(m[r])));
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Streaming.Learning.Evaluation;
using Streaming.Learning.Methods;
using Streaming.Learning.Models;
using Streaming.Learning.Networks.ItemItem;
using Streaming.Learning.Serving;
using Streaming.Learning.Training;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using Streaming.Shared.Evaluation.TopN;
using Streaming.Shared.Models;
using Streaming.Tests.Data;
using Xunit;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

/// <summary>
/// The item-item meta-model on MovieLens-1M, measured by hand with the <c>eval</c> protocol (explicit; tens of minutes
/// of both cores): <code>./streaming test -method '*ItemItemOnMovieLens*' -explicit only</code>
/// Trains as <c>streaming train --data ../shared/datasets/ml-1m --network itemitem --algo metasgd-liked</c> would
/// (split 0.1/0.15 seed 2019, seed 1), then runs <see cref="ColdStartEvaluation.Run"/> on its held-out users: MAE,
/// RMSE, nDCG@3 and top-N for the model and every baseline, fitted on the model's training users only. Environment
/// knobs: <c>II_EPOCHS</c>, <c>II_STEPS</c>, <c>II_INNER_LR</c>, <c>II_META_LR</c>, <c>II_DIM</c>, <c>II_ALGO</c>,
/// <c>II_BUDGET_MIN</c>, <c>II_FIXED</c> (1: fixed tasks; default 0, resampled). Writes <c>artifacts/measurements/itemitem.md</c> and the report as <c>itemitem.json</c>.
/// </summary>
[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class ItemItemMeasurement(MovieLensFixture movieLens) : IClassFixture<MovieLensFixture>
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    [Fact(Explicit = true)]
    public void ItemItemOnMovieLens_ServedListAgainstBaselines()
    {
        var data = movieLens.Require();
        var hyper = new Hyperparameters
        {
            Network = ItemItemNetwork.Name,
            Method = Environment.GetEnvironmentVariable("II_ALGO") ?? MetaSgdLiked.RegisteredName,
            InnerSteps = Env("II_STEPS", 3),
            InnerLearningRate = (float)Env("II_INNER_LR", 0.1),
            Hidden1 = Env("II_DIM", 64),
            MetaLearningRate = (float)Env("II_META_LR", 1e-3),
        };
        var options = new TrainingOptions
        {
            Hyperparameters = hyper,
            Epochs = Env("II_EPOCHS", 4),
            Patience = 2,
            Seed = 1,
            TimeBudget = TimeSpan.FromMinutes(Env("II_BUDGET_MIN", 25)),
            ResampleTasks = Env("II_FIXED", 0) == 0,
        };
        var started = Stopwatch.GetTimestamp();
        var result = MetaTraining.Run(data, options, CPU, TimeProvider.System, cancellationToken: TestContext.Current.CancellationToken);
        using var model = result.Model;
        var trainTime = Stopwatch.GetElapsedTime(started);
        var network = Assert.IsType<ItemItemNetwork>(model.Network);

        started = Stopwatch.GetTimestamp();
        var report = ColdStartEvaluation.Run(model, "itemitem", data, new EvaluationOptions { PlainEpochs = 1 }, TimeProvider.System);
        var evalTime = Stopwatch.GetElapsedTime(started);

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"model: {hyper.Network}/{model.Module.Hyper.Method}, D={hyper.Hidden1}, {hyper.InnerSteps} inner steps, inner lr {hyper.InnerLearningRate}, meta lr {hyper.MetaLearningRate}; {result.History.Count} epochs (best {model.Manifest.Training.BestEpoch}), training {trainTime.TotalSeconds:F0} s, eval {evalTime.TotalSeconds:F0} s");
        text.AppendLine(network.FitSummary);
        text.AppendLine(CultureInfo.InvariantCulture, $"tasks: {(options.ResampleTasks ? "resampled every epoch" : "fixed")}");
        text.AppendLine(CultureInfo.InvariantCulture, $"learned EASE gain g = {network.EaseGain:F2}; per-user state: {model.Module.FastStateSize} values = {model.Module.FastStateSize * 2} bytes as float16; B = {network.EaseWeights.numel():N0} floats ({network.EaseWeights.numel() * 4 / 1e6:F1} MB in the model file)");
        foreach (var e in result.History)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"epoch {e.Epoch}: train loss {e.TrainLoss:F4}, validation MAE {e.Validation.Mae:F4}, {e.Seconds:F0} s");
        }

        text.AppendLine("| partition | list | users | recall@10 | recall@20 | nDCG@20 | coverage@20 | overlap@20 | MAE | RMSE | nDCG@3 |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        text.AppendLine(Row("existing_items_new_users", "itemitem (served)", report.ExistingItemsNewUsers.TopN, report.ExistingItemsNewUsers));
        text.AppendLine(Row("new_items_new_users", "itemitem (served)", report.NewItemsNewUsers.TopN, report.NewItemsNewUsers));
        foreach (var (name, pair) in report.Baselines)
        {
            foreach (var (partition, m) in new[] { ("existing_items_new_users", pair.ExistingItemsNewUsers), ("new_items_new_users", pair.NewItemsNewUsers) })
            {
                if (m is not null)
                {
                    text.AppendLine(Row(partition, name, m.TopN, m.Mae is double mae ? new PartitionMetrics(m.Users, mae, m.Rmse ?? 0, m.Ndcg3 ?? 0) : null));
                }
            }
        }

        double ours = report.ExistingItemsNewUsers.TopN!.Recall20;
        double ease = report.Baselines["ease"].ExistingItemsNewUsers!.TopN!.Recall20;
        double popularity = report.Baselines["popularity"].ExistingItemsNewUsers!.TopN!.Recall20;
        double content = report.Baselines["content_knn"].NewItemsNewUsers!.TopN!.Recall20;
        text.AppendLine(CultureInfo.InvariantCulture, $"existing items: recall@20 / EASE = {ours / ease:F3} (goal 1.05), / popularity = {ours / popularity:F3} (goal 2); MAE {report.ExistingItemsNewUsers.Mae:F4} (goal <= 0.737); new items: / content_knn = {report.NewItemsNewUsers.TopN!.Recall20 / content:F3} (goal > 1)");
        text.AppendLine(Latency(model, data, steps: hyper.InnerSteps));

        var folder = Path.Combine(Environment.GetEnvironmentVariable("STREAMING_ROOT") ?? Environment.CurrentDirectory, "artifacts", "measurements");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "itemitem.md"), text.ToString());
        File.WriteAllText(Path.Combine(folder, "itemitem.json"), JsonSerializer.Serialize(report, Indented));
        TestContext.Current.SendDiagnosticMessage(text.ToString());
        TestContext.Current.TestOutputHelper?.WriteLine(text.ToString());
        Assert.True(ours > popularity, text.ToString());
    }

    // bench adapt-style: ms per user through BatchRecommender, one batch of users versus one user per call.
    private static string Latency(MetaModel model, RatingsDataset data, int steps)
    {
        using var recommender = new BatchRecommender(model, data.Items.Values);
        var split = MeluProtocol.SplitUsers(data.Ratings.Select(r => r.UserId).Distinct(), 0.1, 0.15, 2019);
        var sessions = MeluProtocol.ExistingItemsTasks(data, split.Test, 1).Take(256)
            .Select(t => new UserSession(data.Users.GetValueOrDefault(t.UserId) ?? UserProfile.Unknown, t.Support)).ToArray();
        recommender.Recommend(sessions.Take(8).ToArray(), steps, 20);
        var started = Stopwatch.GetTimestamp();
        recommender.Recommend(sessions, steps, 20);
        double batched = Stopwatch.GetElapsedTime(started).TotalMilliseconds / sessions.Length;
        started = Stopwatch.GetTimestamp();
        foreach (var session in sessions.Take(64))
        {
            recommender.Recommend([session], steps, 20);
        }

        double loop = Stopwatch.GetElapsedTime(started).TotalMilliseconds / Math.Min(64, sessions.Length);
        return string.Create(CultureInfo.InvariantCulture, $"serving (adapt {steps} steps + score {recommender.Catalogue.Count} items + top-20): {sessions.Length} users batched {batched:F3} ms/user, one user per call {loop:F3} ms/user");
    }

    private static string Row(string partition, string label, TopNResult? r, PartitionMetrics? m) => string.Create(CultureInfo.InvariantCulture,
        $"| {partition} | {label} | {r?.Users} | {r?.Recall10:F4} | {r?.Recall20:F4} | {r?.Ndcg20:F4} | {r?.Coverage20:F4} | {r?.Overlap20:F4} | {(m is null ? "" : m.Mae.ToString("F4", CultureInfo.InvariantCulture))} | {(m is null ? "" : m.Rmse.ToString("F4", CultureInfo.InvariantCulture))} | {(m is null ? "" : m.Ndcg3.ToString("F4", CultureInfo.InvariantCulture))} |");

    private static int Env(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : fallback;

    private static double Env(string name, double fallback) =>
        double.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : fallback;
}

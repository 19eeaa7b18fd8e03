using System.Diagnostics;
using System.Globalization;
using System.Text;
using Streaming.Learning.Methods;
using Streaming.Learning.Models;
using Streaming.Learning.Networks.TwoTower;
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
/// The two-tower meta-model on MovieLens-1M next to the top-N baselines, measured by hand (explicit; minutes of both cores):
/// <code>./streaming test -method '*TwoTowerOnMovieLens*' -explicit only</code>
/// Trains as <c>streaming train --data ../shared/datasets/ml-1m --algo metasgd-rank</c> with network <c>twotower</c>
/// would (the model's split, seed 1, the training users' warm state only); the baselines are fitted on the same
/// warm-state ratings. Reports both partitions of the 725 held-out users. Environment knobs for iterating:
/// <c>TT_EPOCHS</c>, <c>TT_STEPS</c>, <c>TT_INNER_LR</c>, <c>TT_DIM</c>, <c>TT_META_LR</c>.
/// Writes the table to <c>artifacts/measurements/twotower.md</c>.
/// </summary>
[Collection(TorchCollection.Name)]
public sealed class TwoTowerMeasurement(MovieLensFixture movieLens) : IClassFixture<MovieLensFixture>
{
    [Fact(Explicit = true)]
    public void TwoTowerOnMovieLens_ServedListAgainstBaselines()
    {
        var data = movieLens.Require();
        var hyper = new Hyperparameters
        {
            Network = TwoTowerNetwork.Name,
            Method = MetaSgdRanking.RegisteredName,
            InnerSteps = Env("TT_STEPS", 3),
            InnerLearningRate = (float)Env("TT_INNER_LR", 0.1),
            Hidden1 = Env("TT_DIM", 64),
            MetaLearningRate = (float)Env("TT_META_LR", 1e-3),
        };
        var options = new TrainingOptions { Hyperparameters = hyper, Epochs = Env("TT_EPOCHS", 6), Patience = 3, Seed = 1 };
        var started = Stopwatch.GetTimestamp();
        using var model = MetaTraining.Run(data, options, CPU, TimeProvider.System, cancellationToken: TestContext.Current.CancellationToken).Model;
        var trainTime = Stopwatch.GetElapsedTime(started);
        int steps = model.Module.Hyper.InnerSteps;

        var split = MeluProtocol.SplitUsers(data.Ratings.Select(r => r.UserId).Distinct(), 0.1, 0.15, 2019);
        var train = TopNTrainingData.FromTasks(MeluProtocol.WarmStateTasks(data, split.Train, 1), data.Items);
        var existingTasks = MeluProtocol.ExistingItemsTasks(data, split.Test, 1);
        var newTasks = MeluProtocol.NewItemsTasks(data, split.Test, 1);
        var existing = TopNEvaluator.ExistingItemCandidates(data.Items);
        var fresh = TopNEvaluator.NewItemCandidates(data.Items);
        var evaluator = new TopNEvaluator();
        using var served = new ServedScores(model, data.Items, data.Users, steps);

        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"model: {hyper.Network}/{hyper.Method}, D={hyper.Hidden1}, {steps} inner steps, inner lr {hyper.InnerLearningRate}, meta lr {hyper.MetaLearningRate}; {model.Manifest.Training.Epochs} epochs (best {model.Manifest.Training.BestEpoch}), training {trainTime.TotalSeconds:F0} s");
        report.AppendLine(CultureInfo.InvariantCulture, $"per-user state: {model.Module.FastStateSize} values = {model.Module.FastStateSize * 2} bytes as float16");
        report.AppendLine("| partition | list | users | recall@10 | recall@20 | nDCG@20 | coverage@20 | overlap@20 | MAE | RMSE | nDCG@3 |");
        report.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        var recall = new Dictionary<string, double>();
        foreach (var (name, tasks, candidates, baselines) in new (string, IReadOnlyList<UserTask>, IReadOnlyList<int>, (string, ITopNRecommender)[])[]
        {
            ("existing_items_new_users", existingTasks, existing, [("popularity", new PopularityRecommender()), ("item_knn", new ItemKnnRecommender()), ("ease", new EaseRecommender(500)), ("content_knn", new ContentKnnRecommender())]),
            ("new_items_new_users", newTasks, fresh, [("random", new RandomRecommender(1)), ("content_knn", new ContentKnnRecommender())]),
        })
        {
            var metrics = MetaTraining.Evaluate(model, tasks, data.Items, data.Users);
            var ours = evaluator.Evaluate(served.Score, tasks, candidates);
            recall[$"{name}/model"] = ours.Recall20;
            report.AppendLine(Row(name, "twotower (served)", ours, metrics));
            foreach (var (label, recommender) in baselines)
            {
                recommender.Fit(train);
                var result = evaluator.Evaluate(recommender, tasks, candidates);
                recall[$"{name}/{label}"] = result.Recall20;
                report.AppendLine(Row(name, label, result, null));
            }
        }

        report.AppendLine(CultureInfo.InvariantCulture, $"existing items: recall@20 / EASE = {recall["existing_items_new_users/model"] / recall["existing_items_new_users/ease"]:F3}, / popularity = {recall["existing_items_new_users/model"] / recall["existing_items_new_users/popularity"]:F3}; new items: / content_knn = {recall["new_items_new_users/model"] / recall["new_items_new_users/content_knn"]:F3}");
        report.AppendLine(Latency(model, data, existingTasks, steps));

        var text = report.ToString();
        var folder = Path.Combine(Environment.GetEnvironmentVariable("STREAMING_ROOT") ?? Environment.CurrentDirectory, "artifacts", "measurements");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "twotower.md"), text);
        TestContext.Current.SendDiagnosticMessage(text);
        TestContext.Current.TestOutputHelper?.WriteLine(text);
        Assert.True(recall["existing_items_new_users/model"] > recall["existing_items_new_users/popularity"], text);
    }

    // bench adapt-style: ms per user through BatchRecommender, one batch of users versus one user per call.
    private static string Latency(MetaModel model, RatingsDataset data, IReadOnlyList<UserTask> tasks, int steps)
    {
        using var recommender = new BatchRecommender(model, data.Items.Values);
        var sessions = tasks.Take(256).Select(t => new UserSession(data.Users.GetValueOrDefault(t.UserId) ?? UserProfile.Unknown, t.Support)).ToArray();
        recommender.Recommend(sessions.Take(8).ToArray(), steps, 20);
        var started = Stopwatch.GetTimestamp();
        recommender.Recommend(sessions, steps, 20);
        double batched = Stopwatch.GetElapsedTime(started).TotalMilliseconds / sessions.Length;
        started = Stopwatch.GetTimestamp();
        foreach (var session in sessions)
        {
            recommender.Recommend([session], steps, 20);
        }

        double loop = Stopwatch.GetElapsedTime(started).TotalMilliseconds / sessions.Length;
        return string.Create(CultureInfo.InvariantCulture, $"serving (adapt {steps} steps + score {recommender.Catalogue.Count} items + top-20), {sessions.Length} users: batched {batched:F3} ms/user, per-user loop {loop:F3} ms/user");
    }

    private static string Row(string partition, string label, TopNResult r, PartitionMetrics? m) => string.Create(CultureInfo.InvariantCulture,
        $"| {partition} | {label} | {r.Users} | {r.Recall10:F4} | {r.Recall20:F4} | {r.Ndcg20:F4} | {r.Coverage20:F4} | {r.Overlap20:F4} | {(m is null ? "" : m.Mae.ToString("F4", CultureInfo.InvariantCulture))} | {(m is null ? "" : m.Rmse.ToString("F4", CultureInfo.InvariantCulture))} | {(m is null ? "" : m.Ndcg3.ToString("F4", CultureInfo.InvariantCulture))} |");

    private static int Env(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : fallback;

    private static double Env(string name, double fallback) =>
        double.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : fallback;
}

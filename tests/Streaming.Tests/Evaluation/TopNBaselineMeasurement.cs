using System.Diagnostics;
using System.Globalization;
using System.Text;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation.TopN;
using Streaming.Tests.Data;

namespace Streaming.Tests.Evaluation;

/// <summary>
/// The top-N baselines on MovieLens-1M, measured by hand (explicit: about a minute of both cores):
/// <code>./streaming test -method '*TopNBaselines*' -explicit only</code>
/// The model's split (<c>SplitUsers(users, 0.1, 0.15, 2019)</c>), baselines fitted on the training users' warm-state
/// tasks (seed 1: support and query, as the meta-model trains), evaluated on the test users' two partitions (seed 1).
/// Writes the table to <c>artifacts/measurements/topn-baselines.md</c>.
/// </summary>
[Trait("Kind", "Unit")]
public sealed class TopNBaselineMeasurement(MovieLensFixture movieLens) : IClassFixture<MovieLensFixture>
{
    [Fact(Explicit = true)]
    public void TopNBaselines_OnMovieLensTestUsers_EaseBeatsItemKnnBeatsPopularity()
    {
        var data = movieLens.Require();
        var split = MeluProtocol.SplitUsers(data.Ratings.Select(r => r.UserId).Distinct(), 0.1, 0.15, 2019);
        var train = TopNTrainingData.FromTasks(MeluProtocol.WarmStateTasks(data, split.Train, 1), data.Items);
        var newItems = TopNEvaluator.NewItemCandidates(data.Items).ToHashSet();
        Assert.DoesNotContain(train.Ratings, r => newItems.Contains(r.ItemId));

        // A stronger reference, not the protocol: every existing-item rating of the training users, heavy raters included
        // (the warm state keeps only users with 13..100 of them).
        var trainUsers = split.Train.ToHashSet();
        var existing = TopNEvaluator.ExistingItemCandidates(data.Items).ToHashSet();
        var trainAll = new TopNTrainingData([.. data.Ratings.Where(r => trainUsers.Contains(r.UserId) && existing.Contains(r.ItemId))], data.Items);

        var partitions = new (string Name, IReadOnlyList<UserTask> Tasks, IReadOnlyList<int> Candidates, (string Label, Func<ITopNRecommender> Create, TopNTrainingData Train)[] Baselines)[]
        {
            ("existing_items_new_users", MeluProtocol.ExistingItemsTasks(data, split.Test, 1), TopNEvaluator.ExistingItemCandidates(data.Items),
                [("random", () => new RandomRecommender(1), train), ("popularity", () => new PopularityRecommender(), train),
                    ("top_rated", () => new TopRatedRecommender(), train), ("item_knn", () => new ItemKnnRecommender(), train),
                    ("item_knn(k=100)", () => new ItemKnnRecommender(neighbours: 100), train), ("ease", () => new EaseRecommender(500), train),
                    ("content_knn", () => new ContentKnnRecommender(), train), ("popularity [all train ratings]", () => new PopularityRecommender(), trainAll),
                    ("item_knn [all train ratings]", () => new ItemKnnRecommender(), trainAll), ("ease [all train ratings]", () => new EaseRecommender(500), trainAll)]),
            ("new_items_new_users", MeluProtocol.NewItemsTasks(data, split.Test, 1), TopNEvaluator.NewItemCandidates(data.Items),
                [("random", () => new RandomRecommender(1), train), ("content_knn", () => new ContentKnnRecommender(), train)]),
        };

        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"training: {split.Train.Count} users split, {train.Ratings.Count} warm-state ratings ({trainAll.Ratings.Count} existing-item ratings in all); test: {split.Test.Count} users");
        report.AppendLine("| partition | baseline | users (skipped) | candidates | recall@10 | recall@20 | nDCG@20 | coverage@20 | overlap@20 | fit s | score s |");
        report.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        var recall = new Dictionary<string, double>();
        var evaluator = new TopNEvaluator();
        foreach (var (name, tasks, candidates, baselines) in partitions)
        {
            foreach (var (baseline, create, fitData) in baselines)
            {
                var recommender = create();
                var started = Stopwatch.GetTimestamp();
                recommender.Fit(fitData);
                var fit = Stopwatch.GetElapsedTime(started);
                started = Stopwatch.GetTimestamp();
                var result = evaluator.Evaluate(recommender, tasks, candidates);
                var score = Stopwatch.GetElapsedTime(started);
                var label = baseline;
                if (recommender is EaseRecommender ease)
                {
                    label += string.Create(CultureInfo.InvariantCulture, $" ({ease.ItemCount} items, inverse {ease.InverseTime.TotalSeconds:F1} s)");
                }

                recall[$"{name}/{baseline}"] = result.Recall20;
                report.AppendLine(CultureInfo.InvariantCulture,
                    $"| {name} | {label} | {result.Users} ({result.SkippedUsers}) | {result.Candidates} | {result.Recall10:F4} | {result.Recall20:F4} | {result.Ndcg20:F4} | {result.Coverage20:F4} | {result.Overlap20:F4} | {fit.TotalSeconds:F2} | {score.TotalSeconds:F2} |");
            }
        }

        // The inverse at the full catalogue's size (3,706 items), on a diagonally dominant (so SPD) random matrix.
        const int FullSize = 3706;
        var random = new Random(1);
        var matrix = new double[FullSize * FullSize];
        for (var i = 0; i < FullSize; i++)
        {
            matrix[(i * FullSize) + i] = FullSize;
            for (var j = 0; j < i; j++)
            {
                matrix[(i * FullSize) + j] = matrix[(j * FullSize) + i] = random.NextDouble() - 0.5;
            }
        }

        var inverseStarted = Stopwatch.GetTimestamp();
        SpdInverse.InvertInPlace(matrix, FullSize, 2);
        report.AppendLine(CultureInfo.InvariantCulture, $"SpdInverse {FullSize} x {FullSize}, 2 threads: {Stopwatch.GetElapsedTime(inverseStarted).TotalSeconds:F1} s");

        var text = report.ToString();
        var folder = Path.Combine(Environment.GetEnvironmentVariable("STREAMING_ROOT") ?? Environment.CurrentDirectory, "artifacts", "measurements");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "topn-baselines.md"), text);
        TestContext.Current.SendDiagnosticMessage(text);
        TestContext.Current.TestOutputHelper?.WriteLine(text);

        Assert.True(recall["existing_items_new_users/ease"] > recall["existing_items_new_users/item_knn"], text);
        Assert.True(recall["existing_items_new_users/item_knn"] > recall["existing_items_new_users/popularity"], text);
        Assert.True(recall["new_items_new_users/content_knn"] > recall["new_items_new_users/random"], text);
    }
}

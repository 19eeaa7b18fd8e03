using Streaming.Shared.Data;
using Streaming.Shared.Evaluation.TopN;

namespace Streaming.Tests.Evaluation;

[Trait("Kind", "Unit")]
public sealed class TopNBaselineTests
{
    // Items 10 (A), 20 (B), 30 (C) with interactions; 40 (D) in the catalogue only.
    private const int A = 10, B = 20, C = 30, D = 40;

    /// <summary>User 1 rated A, B; user 2 A, B, C; user 3 B, C. Counts A 2, B 3, C 2; co-occurrence AB 2, AC 1, BC 2.</summary>
    private static TopNTrainingData Training() => new(
        [
            new Rating(1, A, 5), new Rating(1, B, 3),
            new Rating(2, A, 4), new Rating(2, B, 4), new Rating(2, C, 1),
            new Rating(3, B, 5), new Rating(3, C, 2),
        ],
        Catalogue());

    private static Dictionary<int, ItemInfo> Catalogue() => new()
    {
        [A] = Item(A, 1990, "PG", ["Drama"], ["Lang"], ["X", "Y"]),
        [B] = Item(B, 1991, "PG", ["Drama", "War"], ["Ford"], ["Y"]),
        [C] = Item(C, 1999, "R", ["Comedy"], ["Lang"], []),
        [D] = Item(D, 2000, "", ["Drama"], [], ["X"]),
    };

    private static readonly int[] Candidates = [A, B, C, D];

    [Fact]
    public void Popularity_Score_IsTrainingInteractionCount()
    {
        var scores = Fitted(new PopularityRecommender()).Scores(User(9, A));
        Assert.Equal([2f, 3f, 2f, 0f], scores);
    }

    [Fact]
    public void TopRated_Score_IsMeanShrunkTowardsTheGlobalMean()
    {
        var global = 24.0 / 7;
        var scores = Fitted(new TopRatedRecommender(shrinkage: 2)).Scores(User(9, A));
        Assert.Equal((float)((9 + (2 * global)) / 4), scores[0], 5);
        Assert.Equal((float)((12 + (2 * global)) / 5), scores[1], 5);
        Assert.Equal((float)((3 + (2 * global)) / 4), scores[2], 5);
        Assert.Equal((float)global, scores[3], 5);
    }

    [Fact]
    public void ItemKnn_Score_IsSumOfCosinesToTheSupportItems()
    {
        var scores = Fitted(new ItemKnnRecommender()).Scores(User(9, A, C));

        // A: cos(A,A) = 0 + cos(C,A) = 1/sqrt(4); B: 2/sqrt(6) twice; C: cos(A,C) = 1/2; D: unknown.
        Assert.Equal(0.5f, scores[0], 5);
        Assert.Equal((float)(4 / Math.Sqrt(6)), scores[1], 5);
        Assert.Equal(0.5f, scores[2], 5);
        Assert.Equal(0f, scores[3]);
    }

    [Fact]
    public void ItemKnn_OneNeighbour_KeepsOnlyEachItemsMostSimilar()
    {
        // A's nearest is B (2/sqrt 6 > 1/2); so a user of A scores only B.
        var scores = Fitted(new ItemKnnRecommender(neighbours: 1)).Scores(User(9, A));
        Assert.Equal([0f, (float)(2 / Math.Sqrt(6)), 0f, 0f], scores);
    }

    [Theory]
    [InlineData(0.0)]   // EASE
    [InlineData(0.5)]   // EDLAE: lambda + p / (1 - p) G_ii on the diagonal
    public void Ease_Score_MatchesTheClosedFormComputedDirectly(double dropout)
    {
        const double Lambda = 1.5;
        double[,] x = { { 1, 1, 0 }, { 1, 1, 1 }, { 0, 1, 1 } };
        var g = new double[3, 3];
        for (var i = 0; i < 3; i++)
        {
            for (var j = 0; j < 3; j++)
            {
                for (var u = 0; u < 3; u++)
                {
                    g[i, j] += x[u, i] * x[u, j];
                }
            }
        }

        for (var i = 0; i < 3; i++)
        {
            g[i, i] += Lambda + (dropout / (1 - dropout) * g[i, i]);
        }

        var p = GaussJordanInverse(g);
        var support = new[] { 0, 2 };
        var expected = new float[3];
        for (var j = 0; j < 3; j++)
        {
            expected[j] = (float)support.Where(i => i != j).Sum(i => -p[i, j] / p[j, j]);
        }

        var scores = Fitted(new EaseRecommender(Lambda, dropout: dropout)).Scores(User(9, A, C));
        for (var j = 0; j < 3; j++)
        {
            Assert.Equal(expected[j], scores[j], 5);
        }

        Assert.Equal(float.NegativeInfinity, scores[3]);
    }

    [Fact]
    public void ContentKnn_Score_IsSumOfFeatureCosinesAndCoversItemsWithoutInteractions()
    {
        var scores = Fitted(new ContentKnnRecommender()).Scores(User(9, A));

        // A = {PG, Drama, Lang, X, Y} (5 tokens); B = {PG, Drama, War, Ford, Y} shares 3; C = {R, Comedy, Lang} shares 1;
        // D = {Drama, X} shares 2.
        Assert.Equal(1f, scores[0], 5);
        Assert.Equal((float)(3 / Math.Sqrt(25)), scores[1], 5);
        Assert.Equal((float)(1 / Math.Sqrt(15)), scores[2], 5);
        Assert.Equal((float)(2 / Math.Sqrt(10)), scores[3], 5);
    }

    [Fact]
    public void Random_Score_IsDeterministicPerSeedUserAndItem()
    {
        var first = Fitted(new RandomRecommender(seed: 5)).Scores(User(9, A));
        var again = Fitted(new RandomRecommender(seed: 5)).Scores(User(9));
        var other = Fitted(new RandomRecommender(seed: 6)).Scores(User(9, A));
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.All(first, s => Assert.InRange(s, 0f, 1f));
    }

    public static TheoryData<string> BaselineNames => ["popularity", "top_rated", "item_knn", "ease", "content_knn", "random"];

    [Theory]
    [MemberData(nameof(BaselineNames))]
    public void Score_ChangedQueryRatingsAndItems_ScoresUnchanged(string name)
    {
        var recommender = Create(name);
        recommender.Fit(Training());
        var support = new[] { new Rating(9, A, 4) };
        UserTask[] original = [new(9, support, [new Rating(9, B, 5), new Rating(9, C, 1)])];
        UserTask[] changed = [new(9, support, [new Rating(9, C, 5), new Rating(9, D, 5)])];
        var before = new float[Candidates.Length];
        var after = new float[Candidates.Length];

        recommender.Score(original, Candidates, before);
        recommender.Score(changed, Candidates, after);

        Assert.Equal(before, after);
    }

    [Theory]
    [MemberData(nameof(BaselineNames))]
    public void FitAndEvaluate_AnyBaseline_ScorerReceivesNoQuerySets(string name)
    {
        var seen = new List<UserTask>();
        var inner = Create(name);
        var recording = new RecordingRecommender(inner, seen);
        var tasks = new[] { new UserTask(9, [new Rating(9, A, 4)], [new Rating(9, B, 5), new Rating(9, C, 2)]) };

        new TopNEvaluator().FitAndEvaluate(recording, Training(), tasks, Candidates);

        Assert.NotEmpty(seen);
        Assert.All(seen, t => Assert.Empty(t.Query));
    }

    [Fact]
    public void FitAndEvaluate_TrainingHoldsAnEvaluatedUser_Throws()
    {
        var tasks = new[] { new UserTask(2, [new Rating(2, A, 4)], [new Rating(2, B, 5)]) };
        var error = Assert.Throws<ArgumentException>(() => new TopNEvaluator().FitAndEvaluate(new PopularityRecommender(), Training(), tasks, Candidates));
        Assert.Contains("evaluated user 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Score_BeforeFit_Throws()
    {
        foreach (var name in new[] { "popularity", "top_rated", "item_knn", "ease", "content_knn" })
        {
            Assert.Throws<InvalidOperationException>(() => Create(name).Score([User(9)], Candidates, new float[Candidates.Length]));
        }
    }

    [Fact]
    public void Evaluate_Popularity_ExcludesSupportItemsAndRanksByCount()
    {
        var popularity = new PopularityRecommender();
        popularity.Fit(Training());
        var lists = new TopNEvaluator().TopLists(popularity, [User(9, B)], Candidates);

        // B (most popular) is the user's own; then A and C tie at 2 (candidate order), D last.
        Assert.Equal([A, C, D], lists[0]);
    }

    internal static ITopNRecommender Create(string name) => name switch
    {
        "popularity" => new PopularityRecommender(),
        "top_rated" => new TopRatedRecommender(),
        "item_knn" => new ItemKnnRecommender(),
        "ease" => new EaseRecommender(lambda: 1),
        "content_knn" => new ContentKnnRecommender(),
        "random" => new RandomRecommender(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    private static (ITopNRecommender Model, Func<UserTask, float[]> Scores) Fitted(ITopNRecommender model)
    {
        model.Fit(Training());
        return (model, user =>
        {
            var scores = new float[Candidates.Length];
            model.Score([user], Candidates, scores);
            return scores;
        });
    }

    private static UserTask User(int id, params int[] support) => new(id, [.. support.Select(i => new Rating(id, i, 4))], []);

    private static ItemInfo Item(int id, int year, string rate, string[] genres, string[] directors, string[] actors) =>
        new(id, $"item {id}", year, rate, genres, directors, actors);

    private static double[,] GaussJordanInverse(double[,] m)
    {
        var n = m.GetLength(0);
        var a = new double[n, 2 * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                a[i, j] = m[i, j];
            }

            a[i, n + i] = 1;
        }

        for (var c = 0; c < n; c++)
        {
            var pivot = a[c, c];
            for (var j = 0; j < 2 * n; j++)
            {
                a[c, j] /= pivot;
            }

            for (var r = 0; r < n; r++)
            {
                if (r != c)
                {
                    var f = a[r, c];
                    for (var j = 0; j < 2 * n; j++)
                    {
                        a[r, j] -= f * a[c, j];
                    }
                }
            }
        }

        var inverse = new double[n, n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                inverse[i, j] = a[i, n + j];
            }
        }

        return inverse;
    }

    private sealed class RecordingRecommender(ITopNRecommender inner, List<UserTask> seen) : ITopNRecommender
    {
        public string Name => inner.Name;

        public void Fit(TopNTrainingData train) => inner.Fit(train);

        public void Score(IReadOnlyList<UserTask> users, ReadOnlySpan<int> candidateItemIds, Span<float> scores)
        {
            seen.AddRange(users);
            inner.Score(users, candidateItemIds, scores);
        }
    }
}

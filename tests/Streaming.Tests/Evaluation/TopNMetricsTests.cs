using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using Streaming.Shared.Evaluation.TopN;

namespace Streaming.Tests.Evaluation;

[Trait("Kind", "Unit")]
public sealed class TopNMetricsTests
{
    private static readonly HashSet<int> Relevant = [2, 5, 9];

    [Fact]
    public void RecallAtK_HandMadeRanking_IsFoundRelevantOverAllRelevant()
    {
        int[] ranked = [1, 2, 3, 4, 5];
        Assert.Equal(1.0 / 3, ListMetrics.RecallAtK(ranked, Relevant, 2), 12);
        Assert.Equal(2.0 / 3, ListMetrics.RecallAtK(ranked, Relevant, 5), 12);
        Assert.Equal(0, ListMetrics.RecallAtK(ranked, Relevant, 1), 12);
    }

    [Fact]
    public void BinaryNdcgAtK_HandMadeRanking_MatchesTheFormula()
    {
        int[] ranked = [1, 2, 3, 4, 5];
        var dcg = (1 / Math.Log2(3)) + (1 / Math.Log2(6));
        var ideal = 1 + (1 / Math.Log2(3)) + (1 / Math.Log2(4));
        Assert.Equal(dcg / ideal, ListMetrics.BinaryNdcgAtK(ranked, Relevant, 5), 12);

        // Ideal DCG at k=2 counts only two relevant items, whatever the total.
        Assert.Equal((1 / Math.Log2(3)) / (1 + (1 / Math.Log2(3))), ListMetrics.BinaryNdcgAtK(ranked, Relevant, 2), 12);
    }

    [Fact]
    public void BinaryNdcgAtK_RelevantItemsFirst_IsOne() =>
        Assert.Equal(1, ListMetrics.BinaryNdcgAtK([9, 2, 5, 1], Relevant, 20), 12);

    [Fact]
    public void Coverage_HandMadeLists_IsDistinctItemsOverCandidates() =>
        Assert.Equal(0.3, TopNMetrics.Coverage([[1, 2], [2, 3], [3, 1]], 10), 12);

    [Fact]
    public void MeanOverlap_HandMadeLists_IsMeanSharedFractionOverAllPairs()
    {
        // Pairs: {1,2}-{2,3} share 1 of 2, {1,2}-{4,5} and {2,3}-{4,5} share nothing.
        Assert.Equal(1.0 / 6, TopNMetrics.MeanOverlap([[1, 2], [2, 3], [4, 5]]), 12);
        Assert.Equal(1, TopNMetrics.MeanOverlap([[1, 2], [2, 1], [1, 2]]), 12);
    }

    [Fact]
    public void MeanOverlap_ManyPairs_SamplesCloseToTheExactMean()
    {
        var lists = Enumerable.Range(0, 200).Select(u => (IReadOnlyList<int>)[u % 2, 100 + u]).ToList();

        // Same parity shares 1 of 2 items, so the exact mean is 0.5 * P(same parity) = 0.5 * 99/199.
        var exact = TopNMetrics.MeanOverlap(lists, maxPairs: 1_000_000);
        var sampled = TopNMetrics.MeanOverlap(lists, maxPairs: 5_000, seed: 3);
        Assert.Equal(0.5 * 99 / 199, exact, 12);
        Assert.Equal(exact, sampled, 0.02);
        Assert.Equal(sampled, TopNMetrics.MeanOverlap(lists, maxPairs: 5_000, seed: 3));
    }

    [Fact]
    public void Evaluate_HandMadeScores_RanksUnseenCandidatesAndAveragesOverUsersWithRelevantItems()
    {
        int[] candidates = [.. Enumerable.Range(1, 30)];

        // Everyone gets score = -item id (item 1 first), so after removing support items the list is ascending ids.
        float[] Score(IReadOnlyList<UserTask> users, IReadOnlyList<int> items) =>
            [.. users.SelectMany(_ => items.Select(i => (float)-i))];

        var tasks = new[]
        {
            // Support 1..5 removed: list is 6..25; relevant 6 (rank 1) and 30 (not listed); 17 rated 3 is not relevant.
            Task(1, support: [1, 2, 3, 4, 5], query: [(6, 5), (30, 4), (17, 3)]),

            // Relevant 12 at rank 12 (in the top 20 only).
            Task(2, support: [], query: [(12, 4)]),

            // No relevant item: skipped.
            Task(3, support: [], query: [(7, 2)]),
        };

        var result = new TopNEvaluator().Evaluate(Score, tasks, candidates);

        Assert.Equal(2, result.Users);
        Assert.Equal(1, result.SkippedUsers);
        Assert.Equal((0.5 + 0) / 2, result.Recall10, 12);
        Assert.Equal((0.5 + 1) / 2, result.Recall20, 12);
        var ndcgUser1 = 1 / (1 + (1 / Math.Log2(3)));
        var ndcgUser2 = 1 / Math.Log2(13);
        Assert.Equal((ndcgUser1 + ndcgUser2) / 2, result.Ndcg20, 12);

        // Lists: 6..25 and 1..20 twice: 25 distinct of 30; overlaps 15/20, 15/20, 20/20.
        Assert.Equal(25.0 / 30, result.Coverage20, 12);
        Assert.Equal((0.75 + 0.75 + 1) / 3, result.Overlap20, 12);
        Assert.Equal(30, result.Candidates);

        // The same lists, user by user (NaN for the user without a relevant item), for paired comparisons.
        var users = new TopNEvaluator(new TopNOptions(BatchSize: 2)).UserRecalls(Score, tasks, candidates);
        Assert.Equal(3, users.Length);
        Assert.Equal(0.5, users[0], 12);
        Assert.Equal(1, users[1], 12);
        Assert.True(double.IsNaN(users[2]));
    }

    [Fact]
    public void Evaluate_TiedScores_KeepCandidateOrderAndBatchingDoesNotMatter()
    {
        int[] candidates = [5, 3, 9, 1];
        var tasks = Enumerable.Range(1, 7).Select(u => Task(u, support: [], query: [(1, 5)])).ToArray();
        float[] Score(IReadOnlyList<UserTask> users, IReadOnlyList<int> items) => new float[users.Count * items.Count];

        var small = new TopNEvaluator(new TopNOptions(BatchSize: 2)).Evaluate(Score, tasks, candidates);
        var large = new TopNEvaluator().Evaluate(Score, tasks, candidates);

        // Item 1 is fourth of the ties: nDCG = 1 / log2(5).
        Assert.Equal(1 / Math.Log2(5), small.Ndcg20, 12);
        Assert.Equal(large, small);
    }

    internal static UserTask Task(int user, int[] support, (int Item, float Rating)[] query) =>
        new(user, [.. support.Select(i => new Rating(user, i, 3))], [.. query.Select(q => new Rating(user, q.Item, q.Rating))]);
}

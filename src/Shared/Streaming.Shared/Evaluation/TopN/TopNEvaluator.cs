using Streaming.Shared.Data;

namespace Streaming.Shared.Evaluation.TopN;

/// <summary>Settings of the top-N protocol.</summary>
/// <param name="ListLength">Length of each user's list (the largest k of the metrics, and the list coverage and overlap look at).</param>
/// <param name="BatchSize">Users per scoring call.</param>
/// <param name="RelevantRating">A query item rated at least this is relevant (binary relevance).</param>
/// <param name="MaxOverlapPairs">Pairs of users averaged for the overlap; sampled when there are more.</param>
/// <param name="Seed">Seed of the overlap's pair sample.</param>
public sealed record TopNOptions(
    int ListLength = 20,
    int BatchSize = 256,
    float RelevantRating = 4,
    int MaxOverlapPairs = 100_000,
    int Seed = 1)
{
    /// <summary>The protocol of <c>eval</c>: top-20 lists, 256 users a call, relevant at 4 stars or more.</summary>
    public static TopNOptions Default { get; } = new();
}

/// <summary>
/// The top-N protocol for new users: each user's support set goes in, every candidate item the user has not rated in
/// the support set is ranked, and the query items rated at least <see cref="TopNOptions.RelevantRating"/> are looked
/// for in the top of the list (recall@10, recall@20, binary nDCG@20), next to how personal the lists are
/// (coverage, overlap). Users without a relevant query item are skipped for accuracy, and counted.
/// </summary>
/// <remarks>
/// Scorers receive the tasks with empty query sets, so nothing they compute can depend on the ratings being
/// predicted. Candidates are the partition's item set, the same list for every user
/// (<see cref="ExistingItemCandidates"/>, <see cref="NewItemCandidates"/>). Ties in a score keep candidate order.
/// Not thread-safe (it calls the scorer on the calling thread, one batch at a time).
/// </remarks>
public sealed class TopNEvaluator
{
    private const int ShortK = 10;
    private readonly TopNOptions _options;

    /// <summary>An evaluator with <paramref name="options"/> (default: <see cref="TopNOptions.Default"/>).</summary>
    public TopNEvaluator(TopNOptions? options = null)
    {
        _options = options ?? TopNOptions.Default;
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.ListLength, ShortK);
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.BatchSize, 1);
    }

    /// <summary>"Existing items for new users": every catalogue item released up to the protocol's last existing year, ascending ids.</summary>
    public static IReadOnlyList<int> ExistingItemCandidates(IReadOnlyDictionary<int, ItemInfo> items, ProtocolOptions? protocol = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        var o = protocol ?? ProtocolOptions.Default;
        return [.. items.Values.Where(i => MeluProtocol.IsExistingItem(i, o)).Select(i => i.ItemId).Order()];
    }

    /// <summary>"New items for new users": the catalogue items released after the last existing year, ascending ids.</summary>
    public static IReadOnlyList<int> NewItemCandidates(IReadOnlyDictionary<int, ItemInfo> items, ProtocolOptions? protocol = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        var o = protocol ?? ProtocolOptions.Default;
        return [.. items.Values.Where(i => MeluProtocol.IsNewItem(i, o)).Select(i => i.ItemId).Order()];
    }

    /// <summary>
    /// Fits <paramref name="recommender"/> on <paramref name="train"/> and evaluates it on <paramref name="tasks"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="train"/> holds an interaction of an evaluated user.</exception>
    public TopNResult FitAndEvaluate(
        ITopNRecommender recommender, TopNTrainingData train, IReadOnlyList<UserTask> tasks, IReadOnlyList<int> candidateItemIds)
    {
        ArgumentNullException.ThrowIfNull(recommender);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(tasks);
        var evaluated = tasks.Select(t => t.UserId).ToHashSet();
        foreach (var r in train.Ratings)
        {
            if (evaluated.Contains(r.UserId))
            {
                throw new ArgumentException($"The training data holds ratings of evaluated user {r.UserId}; fit on training users only.", nameof(train));
            }
        }

        recommender.Fit(train);
        return Evaluate(recommender, tasks, candidateItemIds);
    }

    /// <summary>Evaluates a fitted <paramref name="recommender"/> on <paramref name="tasks"/> over <paramref name="candidateItemIds"/>.</summary>
    public TopNResult Evaluate(ITopNRecommender recommender, IReadOnlyList<UserTask> tasks, IReadOnlyList<int> candidateItemIds)
    {
        ArgumentNullException.ThrowIfNull(recommender);
        var candidates = candidateItemIds.ToArray();
        return Run((users, scores) => recommender.Score(users, candidates, scores), tasks, candidates);
    }

    /// <summary>
    /// Evaluates any scoring function (a meta-model, say): given a batch of users (support sets only) and the
    /// candidates, it returns row-major [users x candidates] scores, higher is better.
    /// </summary>
    /// <exception cref="InvalidOperationException">The function returned the wrong number of scores.</exception>
    public TopNResult Evaluate(
        Func<IReadOnlyList<UserTask>, IReadOnlyList<int>, float[]> score, IReadOnlyList<UserTask> tasks, IReadOnlyList<int> candidateItemIds)
    {
        ArgumentNullException.ThrowIfNull(score);
        var candidates = candidateItemIds.ToArray();
        return Run(Scorer(score, candidates), tasks, candidates);
    }

    /// <summary>
    /// Each user's recall@<see cref="TopNOptions.ListLength"/> of the list a scoring function ranks (as
    /// <see cref="Evaluate(Func{IReadOnlyList{UserTask}, IReadOnlyList{int}, float[]}, IReadOnlyList{UserTask}, IReadOnlyList{int})"/>
    /// ranks it), in task order; NaN for a user without a relevant query item. For paired comparisons of two lists on the same users.
    /// </summary>
    public double[] UserRecalls(
        Func<IReadOnlyList<UserTask>, IReadOnlyList<int>, float[]> score, IReadOnlyList<UserTask> tasks, IReadOnlyList<int> candidateItemIds)
    {
        ArgumentNullException.ThrowIfNull(score);
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(candidateItemIds);
        var candidates = candidateItemIds.ToArray();
        var lists = Rank(Scorer(score, candidates), tasks, candidates);
        return [.. tasks.Select((t, u) => Relevant(t) is { Count: > 0 } relevant ? ListMetrics.RecallAtK(lists[u], relevant, _options.ListLength) : double.NaN)];
    }

    // The query items a user's list is judged on.
    private HashSet<int> Relevant(UserTask task) => task.Query.Where(r => r.Value >= _options.RelevantRating).Select(r => r.ItemId).ToHashSet();

    // A scoring function as the ranking loop calls it: a batch of users' scores, checked for size.
    private static BatchScorer Scorer(Func<IReadOnlyList<UserTask>, IReadOnlyList<int>, float[]> score, int[] candidates) =>
        (users, scores) =>
        {
            var result = score(users, candidates);
            if (result is null || result.Length != scores.Length)
            {
                throw new InvalidOperationException(
                    $"The scoring function returned {result?.Length ?? 0} scores for {users.Count} users x {candidates.Length} candidates.");
            }

            result.CopyTo(scores);
        };

    /// <summary>Each user's top list (candidate item ids, best first), as <see cref="Evaluate(ITopNRecommender, IReadOnlyList{UserTask}, IReadOnlyList{int})"/> ranks them.</summary>
    public IReadOnlyList<int[]> TopLists(ITopNRecommender recommender, IReadOnlyList<UserTask> tasks, IReadOnlyList<int> candidateItemIds)
    {
        ArgumentNullException.ThrowIfNull(recommender);
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(candidateItemIds);
        var candidates = candidateItemIds.ToArray();
        return Rank((users, scores) => recommender.Score(users, candidates, scores), tasks, candidates);
    }

    private delegate void BatchScorer(IReadOnlyList<UserTask> users, Span<float> scores);

    private TopNResult Run(BatchScorer scorer, IReadOnlyList<UserTask> tasks, int[] candidates)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        var lists = Rank(scorer, tasks, candidates);
        int users = 0, skipped = 0;
        double recall10 = 0, recall20 = 0, ndcg20 = 0;
        for (var u = 0; u < tasks.Count; u++)
        {
            var relevant = Relevant(tasks[u]);
            if (relevant.Count == 0)
            {
                skipped++;
                continue;
            }

            users++;
            recall10 += ListMetrics.RecallAtK(lists[u], relevant, ShortK);
            recall20 += ListMetrics.RecallAtK(lists[u], relevant, _options.ListLength);
            ndcg20 += ListMetrics.BinaryNdcgAtK(lists[u], relevant, _options.ListLength);
        }

        return new TopNResult(
            users,
            skipped,
            users == 0 ? double.NaN : recall10 / users,
            users == 0 ? double.NaN : recall20 / users,
            users == 0 ? double.NaN : ndcg20 / users,
            TopNMetrics.Coverage(lists, candidates.Length),
            TopNMetrics.MeanOverlap(lists, _options.MaxOverlapPairs, _options.Seed),
            candidates.Length);
    }

    private int[][] Rank(BatchScorer scorer, IReadOnlyList<UserTask> tasks, int[] candidates)
    {
        var position = new Dictionary<int, int>(candidates.Length);
        for (var c = 0; c < candidates.Length; c++)
        {
            if (!position.TryAdd(candidates[c], c))
            {
                throw new ArgumentException($"Candidate item {candidates[c]} is listed twice.", nameof(candidates));
            }
        }

        var k = _options.ListLength;
        var lists = new int[tasks.Count][];
        var excluded = new bool[candidates.Length];
        var scores = new float[Math.Min(_options.BatchSize, Math.Max(tasks.Count, 1)) * candidates.Length];
        var topIndex = new int[k];
        var topScore = new float[k];
        for (var start = 0; start < tasks.Count; start += _options.BatchSize)
        {
            var count = Math.Min(_options.BatchSize, tasks.Count - start);

            // Query sets removed: whatever the scorer does, it cannot see the ratings it is judged on.
            var batch = new UserTask[count];
            for (var u = 0; u < count; u++)
            {
                batch[u] = tasks[start + u] with { Query = [] };
            }

            var batchScores = scores.AsSpan(0, count * candidates.Length);
            batchScores.Clear();
            scorer(batch, batchScores);
            for (var u = 0; u < count; u++)
            {
                var support = batch[u].Support;
                foreach (var r in support)
                {
                    if (position.TryGetValue(r.ItemId, out var c))
                    {
                        excluded[c] = true;
                    }
                }

                var row = batchScores.Slice(u * candidates.Length, candidates.Length);
                var filled = 0;
                for (var c = 0; c < row.Length; c++)
                {
                    if (excluded[c])
                    {
                        continue;
                    }

                    var s = float.IsNaN(row[c]) ? float.NegativeInfinity : row[c];
                    if (filled == k && !(s > topScore[k - 1]))
                    {
                        continue;
                    }

                    // Insertion into the sorted top list; strict comparison keeps earlier candidates ahead on ties.
                    var at = filled < k ? filled++ : k - 1;
                    while (at > 0 && s > topScore[at - 1])
                    {
                        topScore[at] = topScore[at - 1];
                        topIndex[at] = topIndex[at - 1];
                        at--;
                    }

                    topScore[at] = s;
                    topIndex[at] = c;
                }

                var list = new int[filled];
                for (var i = 0; i < filled; i++)
                {
                    list[i] = candidates[topIndex[i]];
                }

                lists[start + u] = list;
                foreach (var r in support)
                {
                    if (position.TryGetValue(r.ItemId, out var c))
                    {
                        excluded[c] = false;
                    }
                }
            }
        }

        return lists;
    }
}

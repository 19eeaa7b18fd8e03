namespace Streaming.Shared.Evaluation.TopN;

/// <summary>
/// How personal a set of top-N lists is. Accuracy per list (recall@k, binary nDCG@k) is in <see cref="ListMetrics"/>.
/// </summary>
public static class TopNMetrics
{
    /// <summary>Catalogue coverage: distinct items over all <paramref name="lists"/>, divided by <paramref name="candidateCount"/>.</summary>
    /// <returns>0..1; 0 when there are no candidates.</returns>
    public static double Coverage(IReadOnlyList<IReadOnlyList<int>> lists, int candidateCount)
    {
        ArgumentNullException.ThrowIfNull(lists);
        ArgumentOutOfRangeException.ThrowIfNegative(candidateCount);
        var distinct = new HashSet<int>();
        foreach (var list in lists)
        {
            distinct.UnionWith(list);
        }

        return candidateCount == 0 ? 0 : (double)distinct.Count / candidateCount;
    }

    /// <summary>
    /// Mean pairwise overlap of users' lists: |A ∩ B| / min(|A|, |B|) (with full lists, |A ∩ B| / N: the share of a
    /// user's list that another user also gets; 1 when everyone gets the same list). Chosen over Jaccard because it
    /// reads directly as "fraction of the list in common". Averages over all pairs when there are at most
    /// <paramref name="maxPairs"/>, else over that many pairs of distinct users drawn with <paramref name="seed"/>.
    /// </summary>
    /// <returns>0..1; NaN with fewer than two lists. Pairs with an empty list count as 0.</returns>
    public static double MeanOverlap(IReadOnlyList<IReadOnlyList<int>> lists, int maxPairs = 100_000, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(lists);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPairs, 1);
        var n = lists.Count;
        if (n < 2)
        {
            return double.NaN;
        }

        var sets = lists.Select(l => l.ToHashSet()).ToArray();
        double Overlap(int a, int b)
        {
            var smaller = Math.Min(sets[a].Count, sets[b].Count);
            if (smaller == 0)
            {
                return 0;
            }

            var common = 0;
            foreach (var item in sets[a])
            {
                if (sets[b].Contains(item))
                {
                    common++;
                }
            }

            return (double)common / smaller;
        }

        var allPairs = (long)n * (n - 1) / 2;
        double sum = 0;
        if (allPairs <= maxPairs)
        {
            for (var a = 0; a < n; a++)
            {
                for (var b = a + 1; b < n; b++)
                {
                    sum += Overlap(a, b);
                }
            }

            return sum / allPairs;
        }

        var random = new Random(seed);
        for (var p = 0; p < maxPairs; p++)
        {
            var a = random.Next(n);
            var b = random.Next(n - 1);
            sum += Overlap(a, b >= a ? b + 1 : b);
        }

        return sum / maxPairs;
    }
}

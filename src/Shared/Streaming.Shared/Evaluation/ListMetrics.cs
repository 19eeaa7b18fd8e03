namespace Streaming.Shared.Evaluation;

/// <summary>Quality of a recommended list against the items a user is known to like, and latency percentiles.</summary>
public static class ListMetrics
{
    /// <summary>The fraction of <paramref name="relevant"/> items that appear in the first <paramref name="k"/> of <paramref name="ranked"/>.</summary>
    public static double RecallAtK(IReadOnlyList<int> ranked, IReadOnlySet<int> relevant, int k)
    {
        ArgumentNullException.ThrowIfNull(ranked);
        ArgumentNullException.ThrowIfNull(relevant);
        return relevant.Count == 0 ? 0 : (double)ranked.Take(k).Count(relevant.Contains) / relevant.Count;
    }

    /// <summary>nDCG of the first <paramref name="k"/> of <paramref name="ranked"/> with binary relevance (1 for a relevant item).</summary>
    public static double BinaryNdcgAtK(IReadOnlyList<int> ranked, IReadOnlySet<int> relevant, int k)
    {
        ArgumentNullException.ThrowIfNull(ranked);
        ArgumentNullException.ThrowIfNull(relevant);
        double dcg = ranked.Take(k).Select((item, i) => relevant.Contains(item) ? 1 / Math.Log2(i + 2) : 0).Sum();
        double ideal = Enumerable.Range(0, Math.Min(k, relevant.Count)).Sum(i => 1 / Math.Log2(i + 2));
        return ideal == 0 ? 0 : dcg / ideal;
    }

    /// <summary>The <paramref name="p"/>-quantile (0..1) of ascending <paramref name="sorted"/> values, by nearest rank; NaN when empty.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        return sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
    }
}

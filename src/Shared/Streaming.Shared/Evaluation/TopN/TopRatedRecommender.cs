using Streaming.Shared.Data;

namespace Streaming.Shared.Evaluation.TopN;

/// <summary>
/// Scores each item by its training mean rating shrunk towards the global mean,
/// (sum + k * globalMean) / (count + k), so that an item with three 5-star ratings does not top the list.
/// The same list for everyone.
/// </summary>
/// <param name="shrinkage">k, in pseudo-ratings at the global mean (at least 0).</param>
public sealed class TopRatedRecommender(double shrinkage = 10) : ITopNRecommender
{
    private Dictionary<int, float>? _means;
    private float _globalMean;

    /// <inheritdoc />
    public string Name => "top_rated";

    /// <inheritdoc />
    public void Fit(TopNTrainingData train)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentOutOfRangeException.ThrowIfNegative(shrinkage);
        var sums = new Dictionary<int, (double Sum, int Count)>();
        double total = 0;
        foreach (var r in train.Ratings)
        {
            var s = sums.GetValueOrDefault(r.ItemId);
            sums[r.ItemId] = (s.Sum + r.Value, s.Count + 1);
            total += r.Value;
        }

        var global = train.Ratings.Count == 0 ? 0 : total / train.Ratings.Count;
        _means = sums.ToDictionary(p => p.Key, p => (float)((p.Value.Sum + (shrinkage * global)) / (p.Value.Count + shrinkage)));
        _globalMean = (float)global;
    }

    /// <inheritdoc />
    public void Score(IReadOnlyList<UserTask> users, ReadOnlySpan<int> candidateItemIds, Span<float> scores)
    {
        ArgumentNullException.ThrowIfNull(users);
        var means = _means ?? throw new InvalidOperationException("Fit the top-rated recommender first.");
        TopNChecks.ScoreShape(users.Count, candidateItemIds.Length, scores.Length);
        var row = scores[..candidateItemIds.Length];
        for (var c = 0; c < row.Length; c++)
        {
            // An item without ratings shrinks all the way to the global mean.
            row[c] = means.TryGetValue(candidateItemIds[c], out var m) ? m : _globalMean;
        }

        for (var u = 1; u < users.Count; u++)
        {
            row.CopyTo(scores.Slice(u * row.Length, row.Length));
        }
    }
}

using Streaming.Shared.Data;

namespace Streaming.Shared.Evaluation.TopN;

/// <summary>Scores each item by its number of training interactions, the same list for everyone (RecBole <c>pop</c>).</summary>
public sealed class PopularityRecommender : ITopNRecommender
{
    private Dictionary<int, int>? _counts;

    /// <inheritdoc />
    public string Name => "popularity";

    /// <inheritdoc />
    public void Fit(TopNTrainingData train)
    {
        ArgumentNullException.ThrowIfNull(train);
        var counts = new Dictionary<int, int>();
        foreach (var r in train.Ratings)
        {
            counts[r.ItemId] = counts.GetValueOrDefault(r.ItemId) + 1;
        }

        _counts = counts;
    }

    /// <inheritdoc />
    public void Score(IReadOnlyList<UserTask> users, ReadOnlySpan<int> candidateItemIds, Span<float> scores)
    {
        ArgumentNullException.ThrowIfNull(users);
        var counts = _counts ?? throw new InvalidOperationException("Fit the popularity recommender first.");
        TopNChecks.ScoreShape(users.Count, candidateItemIds.Length, scores.Length);
        var row = scores[..candidateItemIds.Length];
        for (var c = 0; c < row.Length; c++)
        {
            row[c] = counts.GetValueOrDefault(candidateItemIds[c]);
        }

        for (var u = 1; u < users.Count; u++)
        {
            row.CopyTo(scores.Slice(u * row.Length, row.Length));
        }
    }
}

using Streaming.Shared.Data;

namespace Streaming.Shared.Evaluation.TopN;

/// <summary>
/// Item-based k-nearest neighbours (Sarwar et al. 2001; RecBole <c>itemknn</c>): cosine similarity of items over
/// the binary training user-item matrix, sim(i, j) = |U_i ∩ U_j| / sqrt(|U_i| |U_j|), zero on the diagonal. A user's
/// score for item j is the sum of sim(s, j) over the user's support items s (each counted once, whatever its rating).
/// </summary>
/// <param name="neighbours">When set, each item keeps only its this many most similar items (ties by item index).</param>
public sealed class ItemKnnRecommender(int? neighbours = null) : ITopNRecommender
{
    private readonly int? _neighbours = neighbours is < 1
        ? throw new ArgumentOutOfRangeException(nameof(neighbours), neighbours, "Keep at least one neighbour.")
        : neighbours;

    private InteractionMatrix? _matrix;
    private float[]? _similarity;

    /// <inheritdoc />
    public string Name => "item_knn";

    /// <inheritdoc />
    public void Fit(TopNTrainingData train)
    {
        ArgumentNullException.ThrowIfNull(train);
        var matrix = train.Matrix;
        var n = matrix.ItemIds.Length;
        var gram = matrix.Gram();
        var similarity = new float[gram.Length];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var denominator = Math.Sqrt(gram[((long)i * n) + i] * gram[((long)j * n) + j]);
                similarity[(i * n) + j] = i == j || denominator == 0 ? 0 : (float)(gram[((long)i * n) + j] / denominator);
            }
        }

        if (_neighbours is int k && k < n)
        {
            var order = new int[n];
            var keys = new float[n];
            for (var i = 0; i < n; i++)
            {
                var row = similarity.AsSpan(i * n, n);
                for (var j = 0; j < n; j++)
                {
                    order[j] = j;
                    keys[j] = -row[j];
                }

                // Stable order (ties by index) so that pruning is deterministic.
                Array.Sort(keys, order);
                for (var rank = k; rank < n; rank++)
                {
                    row[order[rank]] = 0;
                }
            }
        }

        _matrix = matrix;
        _similarity = similarity;
    }

    /// <inheritdoc />
    public void Score(IReadOnlyList<UserTask> users, ReadOnlySpan<int> candidateItemIds, Span<float> scores)
    {
        ArgumentNullException.ThrowIfNull(users);
        var matrix = _matrix ?? throw new InvalidOperationException("Fit the item-kNN recommender first.");
        TopNChecks.ScoreShape(users.Count, candidateItemIds.Length, scores.Length);
        matrix.ScoreByItemRows(_similarity!, users, candidateItemIds, scores, unknown: 0);
    }
}

using System.Diagnostics;
using Streaming.Shared.Data;

namespace Streaming.Shared.Evaluation.TopN;

/// <summary>
/// EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): the closed-form item-item model
/// B = I - P / diag(P), P = (X^T X + lambda I)^-1, with a zero diagonal, over the binary training matrix X.
/// A user's score is x_u B, x_u the binary vector of the support items (whatever their ratings).
/// Items without training interactions score <see cref="float.NegativeInfinity"/>: the model has no row for them.
/// </summary>
/// <param name="lambda">L2 regularisation (Steck's ML-20M value is 500).</param>
/// <param name="degreeOfParallelism">Threads for the inverse.</param>
public sealed class EaseRecommender(double lambda = 500, int degreeOfParallelism = 2) : ITopNRecommender
{
    private InteractionMatrix? _matrix;
    private float[]? _weights;

    /// <inheritdoc />
    public string Name => "ease";

    /// <summary>Wall-clock time of the last fit's matrix inverse (the dominant cost).</summary>
    public TimeSpan InverseTime { get; private set; }

    /// <summary>Order of the last fit's matrix: the items with at least one training interaction.</summary>
    public int ItemCount { get; private set; }

    /// <inheritdoc />
    public void Fit(TopNTrainingData train)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(lambda);
        var matrix = train.Matrix;
        var n = matrix.ItemIds.Length;
        var p = matrix.Gram();
        for (var i = 0; i < n; i++)
        {
            p[((long)i * n) + i] += lambda;
        }

        var started = Stopwatch.GetTimestamp();
        SpdInverse.InvertInPlace(p, n, degreeOfParallelism);
        InverseTime = Stopwatch.GetElapsedTime(started);
        ItemCount = n;

        // B[i][j] = -P[i][j] / P[j][j] off the diagonal (Steck, Eq. 8), 0 on it.
        var weights = new float[p.Length];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                weights[(i * n) + j] = i == j ? 0 : (float)(-p[((long)i * n) + j] / p[((long)j * n) + j]);
            }
        }

        _matrix = matrix;
        _weights = weights;
    }

    /// <inheritdoc />
    public void Score(IReadOnlyList<UserTask> users, ReadOnlySpan<int> candidateItemIds, Span<float> scores)
    {
        ArgumentNullException.ThrowIfNull(users);
        var matrix = _matrix ?? throw new InvalidOperationException("Fit the EASE recommender first.");
        TopNChecks.ScoreShape(users.Count, candidateItemIds.Length, scores.Length);
        matrix.ScoreByItemRows(_weights!, users, candidateItemIds, scores, unknown: float.NegativeInfinity);
    }
}

using System.Diagnostics;
using Streaming.Shared.Data;

namespace Streaming.Shared.Evaluation.TopN;

/// <summary>
/// EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): the closed-form item-item model
/// B = I - P / diag(P), P = (X^T X + lambda I)^-1, with a zero diagonal, over the binary training matrix X.
/// A user's score is x_u B, x_u the binary vector of the support items (whatever their ratings).
/// Items without training interactions score <see cref="float.NegativeInfinity"/>: the model has no row for them.
/// With <paramref name="dropout"/> p > 0 it is EDLAE (Steck, "Autoencoders that don't overfit towards the Identity",
/// NeurIPS 2020): the closed form of training under input dropout p, whose regulariser emphasises popular items,
/// lambda I + p / (1 - p) diag(X^T X) in place of lambda I.
/// </summary>
/// <param name="lambda">L2 regularisation (Steck's ML-20M value is 500).</param>
/// <param name="degreeOfParallelism">Threads for the inverse.</param>
/// <param name="dropout">EDLAE's input-dropout probability, in [0, 1); 0 is EASE.</param>
public sealed class EaseRecommender(double lambda = 500, int degreeOfParallelism = 2, double dropout = 0) : ITopNRecommender
{
    private readonly double _emphasis = dropout is >= 0 and < 1
        ? dropout / (1 - dropout)
        : throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "EDLAE's dropout must lie in [0, 1)");

    private InteractionMatrix? _matrix;
    private float[]? _weights;

    /// <inheritdoc />
    public string Name => dropout > 0 ? "edlae" : "ease";

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
            long diagonal = ((long)i * n) + i;
            p[diagonal] += lambda + (_emphasis * p[diagonal]);
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

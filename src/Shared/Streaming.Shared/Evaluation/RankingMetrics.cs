namespace Streaming.Shared.Evaluation;

/// <summary>Per-user rating and ranking metrics of the MeLU paper.</summary>
public static class RankingMetrics
{
    /// <summary>Mean absolute error.</summary>
    public static double MeanAbsoluteError(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual)
    {
        CheckLengths(predicted, actual);
        var sum = 0.0;
        for (var i = 0; i < predicted.Length; i++)
        {
            sum += Math.Abs(predicted[i] - actual[i]);
        }

        return sum / predicted.Length;
    }

    /// <summary>Root mean squared error.</summary>
    public static double RootMeanSquaredError(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual)
    {
        CheckLengths(predicted, actual);
        var sum = 0.0;
        for (var i = 0; i < predicted.Length; i++)
        {
            var d = (double)predicted[i] - actual[i];
            sum += d * d;
        }

        return Math.Sqrt(sum / predicted.Length);
    }

    /// <summary>
    /// nDCG@k: items ranked by predicted score (descending, ties in original order), gain
    /// 2^R - 1 for true rating R, discount log2(1 + rank) with ranks from 1, divided by the DCG
    /// of the ideal order (by true rating). 1 when the ideal DCG is 0 (nothing to rank).
    /// </summary>
    public static double NdcgAtK(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual, int k)
    {
        CheckLengths(predicted, actual);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        var byPrediction = RankOrder(predicted);
        var ideal = RankOrder(actual);
        var idealDcg = Dcg(ideal, actual, k);
        return idealDcg == 0 ? 1.0 : Dcg(byPrediction, actual, k) / idealDcg;
    }

    private static int[] RankOrder(ReadOnlySpan<float> scores)
    {
        var order = new int[scores.Length];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        // Array.Sort is unstable; the index tie-break makes the order deterministic.
        var copy = scores.ToArray();
        Array.Sort(order, (a, b) =>
        {
            var c = copy[b].CompareTo(copy[a]);
            return c != 0 ? c : a.CompareTo(b);
        });
        return order;
    }

    private static double Dcg(int[] order, ReadOnlySpan<float> actual, int k)
    {
        var dcg = 0.0;
        var n = Math.Min(k, order.Length);
        for (var rank = 1; rank <= n; rank++)
        {
            dcg += (Math.Pow(2, actual[order[rank - 1]]) - 1) / Math.Log2(1 + rank);
        }

        return dcg;
    }

    private static void CheckLengths(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual)
    {
        if (predicted.Length != actual.Length)
        {
            throw new ArgumentException($"Predicted ({predicted.Length}) and actual ({actual.Length}) lengths differ.");
        }

        if (predicted.IsEmpty)
        {
            throw new ArgumentException("Metrics need at least one rating.");
        }
    }
}

/// <summary>Metrics of one partition, each the mean over users of the per-user value.</summary>
/// <param name="Users">Users evaluated.</param>
/// <param name="Mae">Mean over users of the per-user MAE.</param>
/// <param name="Rmse">Mean over users of the per-user RMSE.</param>
/// <param name="Ndcg3">Mean over users of the per-user nDCG@3.</param>
public sealed record PartitionMetrics(int Users, double Mae, double Rmse, double Ndcg3)
{
    /// <summary>The top-N protocol's figures on the same partition (<c>eval</c> fills it in; null elsewhere).</summary>
    [System.Text.Json.Serialization.JsonPropertyName("top_n")]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public TopN.TopNResult? TopN { get; init; }

    /// <summary>
    /// MAE over every query rating of each true value 1..5 (pooled over users, not a mean of per-user means: most users
    /// have few or no low ratings). Shows what a method does for the rare low ratings; null where not measured.
    /// </summary>
    [System.Text.Json.Serialization.JsonPropertyName("mae_by_rating")]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public MaeByRating? MaeByRating { get; init; }

    /// <summary>
    /// The MAE of the expected ratings themselves, when <see cref="Mae"/> was measured on whole stars read off them
    /// (<see cref="Models.RatingDecoder"/>); null when the two are the same predictions.
    /// </summary>
    [System.Text.Json.Serialization.JsonPropertyName("mae_of_expected")]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public double? MaeOfExpected { get; init; }
}

/// <summary>MAE per true rating value, pooled over users; a value is null when no query rating had it.</summary>
public sealed record MaeByRating(
    [property: System.Text.Json.Serialization.JsonPropertyName("1"), System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] double? One,
    [property: System.Text.Json.Serialization.JsonPropertyName("2"), System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] double? Two,
    [property: System.Text.Json.Serialization.JsonPropertyName("3"), System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] double? Three,
    [property: System.Text.Json.Serialization.JsonPropertyName("4"), System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] double? Four,
    [property: System.Text.Json.Serialization.JsonPropertyName("5"), System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] double? Five)
{
    /// <summary>The MAE of true rating <paramref name="value"/> (1..5), or null.</summary>
    public double? this[int value] => value switch
    {
        1 => One,
        2 => Two,
        3 => Three,
        4 => Four,
        5 => Five,
        _ => throw new ArgumentOutOfRangeException(nameof(value), value, "ratings are 1..5"),
    };
}

/// <summary>Accumulates per-user metrics and averages them over users (MeLU paper, Eq. 4).</summary>
public sealed class MetricAccumulator
{
    private int _users;
    private double _mae;
    private double _rmse;
    private double _ndcg3;
    private double _maeOfExpected;
    private bool _decoded;

    // Pooled absolute error and count per true rating value 1..5 (index 0 unused).
    private readonly double[] _errorByRating = new double[6];
    private readonly long[] _countByRating = new long[6];

    /// <summary>Adds one user's query predictions and true ratings.</summary>
    public void AddUser(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual) => AddUser(predicted, actual, predicted);

    /// <summary>
    /// Adds one user: <paramref name="predicted"/> ratings for MAE and RMSE, <paramref name="ranking"/> scores for
    /// nDCG (a model may clamp its predictions to the rating scale, yet rank by its raw scores, which have no ties).
    /// </summary>
    public void AddUser(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual, ReadOnlySpan<float> ranking) =>
        AddUser(predicted, predicted, actual, ranking);

    /// <summary>
    /// Adds one user whose point predictions differ by loss: <paramref name="stars"/> (the least absolute error, for MAE)
    /// and <paramref name="expected"/> (the least squared error, for RMSE); <paramref name="ranking"/> scores for nDCG.
    /// </summary>
    public void AddUser(ReadOnlySpan<float> stars, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, ReadOnlySpan<float> ranking)
    {
        // Compute everything before updating, so a bad input leaves the totals unchanged.
        var mae = RankingMetrics.MeanAbsoluteError(stars, actual);
        var maeOfExpected = RankingMetrics.MeanAbsoluteError(expected, actual);
        var rmse = RankingMetrics.RootMeanSquaredError(expected, actual);
        var ndcg = RankingMetrics.NdcgAtK(ranking, actual, 3);
        _mae += mae;
        _maeOfExpected += maeOfExpected;
        _decoded |= !stars.SequenceEqual(expected);
        _rmse += rmse;
        _ndcg3 += ndcg;
        _users++;
        for (var i = 0; i < actual.Length; i++)
        {
            var value = (int)Math.Round(actual[i]);
            if (value is >= 1 and <= 5)
            {
                _errorByRating[value] += Math.Abs(stars[i] - actual[i]);
                _countByRating[value]++;
            }
        }
    }

    /// <summary>The means so far; NaN metrics when no user was added.</summary>
    public PartitionMetrics Result() =>
        _users == 0
            ? new PartitionMetrics(0, double.NaN, double.NaN, double.NaN)
            : new PartitionMetrics(_users, _mae / _users, _rmse / _users, _ndcg3 / _users)
            {
                MaeByRating = ByRating(),
                MaeOfExpected = _decoded ? _maeOfExpected / _users : null,
            };

    private MaeByRating ByRating()
    {
        double? Of(int v) => _countByRating[v] == 0 ? null : _errorByRating[v] / _countByRating[v];
        return new MaeByRating(Of(1), Of(2), Of(3), Of(4), Of(5));
    }
}

using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;

namespace Streaming.Tests.Evaluation;

[Trait("Kind", "Unit")]
public sealed class MetricsTests
{
    [Fact]
    public void MaeAndRmse_HandExample_MatchHandComputation()
    {
        float[] predicted = [3, 4, 5];
        float[] actual = [4, 4, 3];

        Assert.Equal(1.0, RankingMetrics.MeanAbsoluteError(predicted, actual), 10);
        Assert.Equal(Math.Sqrt(5.0 / 3), RankingMetrics.RootMeanSquaredError(predicted, actual), 10);
    }

    [Fact]
    public void NdcgAtK_PerfectRanking_IsOne()
    {
        Assert.Equal(1.0, RankingMetrics.NdcgAtK([0.9f, 0.5f, 0.1f, 0f], [5, 4, 2, 1], 3), 10);
    }

    [Fact]
    public void NdcgAtK_WorkedExample_MatchesHandComputation()
    {
        // Ranked by prediction: items 2, 0, 1 (ratings 3, 5, 4). Ideal: 5, 4, 3.
        float[] predicted = [2, 1, 3, 0];
        float[] actual = [5, 4, 3, 1];
        var dcg = 7 / Math.Log2(2) + 31 / Math.Log2(3) + 15 / Math.Log2(4);
        var ideal = 31 / Math.Log2(2) + 15 / Math.Log2(3) + 7 / Math.Log2(4);

        Assert.Equal(dcg / ideal, RankingMetrics.NdcgAtK(predicted, actual, 3), 10);
    }

    [Fact]
    public void NdcgAtK_TiedPredictions_KeepOriginalOrder()
    {
        // All tied: the ranking is the original order 1, 5 -> DCG 1 + 31/log2(3), ideal 31 + 1/log2(3).
        var expected = (1 + 31 / Math.Log2(3)) / (31 + 1 / Math.Log2(3));

        Assert.Equal(expected, RankingMetrics.NdcgAtK([3f, 3f], [1f, 5f], 3), 10);
    }

    [Fact]
    public void MetricAccumulator_TwoUsers_AveragesPerUser()
    {
        var acc = new MetricAccumulator();
        acc.AddUser([1, 1], [1, 1]);        // MAE 0
        acc.AddUser([1, 1, 1, 1], [3, 3, 3, 3]); // MAE 2 (more ratings, same user weight)

        var result = acc.Result();

        Assert.Equal(2, result.Users);
        Assert.Equal(1.0, result.Mae, 10);
        Assert.Equal(1.0, result.Rmse, 10);
        Assert.Equal(1.0, result.Ndcg3, 10);
    }

    [Fact]
    public void Baselines_TinyTask_PredictExpectedMeans()
    {
        Rating[] training = [new(1, 10, 5), new(1, 11, 1), new(2, 10, 3)];
        var task = new UserTask(9, [new Rating(9, 10, 4), new Rating(9, 11, 2)], [new Rating(9, 10, 5), new Rating(9, 12, 3)]);

        Assert.Equal([3f, 3f], new GlobalMeanPredictor(training).Predict(task));
        Assert.Equal([4f, 3f], new ItemMeanPredictor(training).Predict(task));
        Assert.Equal([3f, 3f], new SupportMeanPredictor(3.5f).Predict(task));
        Assert.Equal([3.5f, 3.5f], new SupportMeanPredictor(3.5f).Predict(task with { Support = [] }));

        var metrics = Evaluator.Evaluate(new ItemMeanPredictor(training), [task]);
        Assert.Equal(1, metrics.Users);
        Assert.Equal(0.5, metrics.Mae, 6);
        Assert.Equal(1.0, metrics.Ndcg3, 6);
    }
}

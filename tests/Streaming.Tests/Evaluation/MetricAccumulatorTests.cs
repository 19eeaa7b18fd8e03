using Streaming.Shared.Evaluation;

namespace Streaming.Tests.Evaluation;

[Trait("Kind", "Unit")]
public sealed class MetricAccumulatorTests
{
    [Fact]
    public void AddUser_WithSeparateRankingScores_UsesThemOnlyForNdcg()
    {
        float[] actual = [5, 1, 3];
        float[] clamped = [5, 5, 5];        // ties: ranking by these would keep the input order
        float[] ranking = [5.4f, 5.1f, 5.2f];

        var withRanking = new MetricAccumulator();
        withRanking.AddUser(clamped, actual, ranking);
        var tied = new MetricAccumulator();
        tied.AddUser(clamped, actual);

        Assert.Equal(tied.Result().Mae, withRanking.Result().Mae);
        Assert.Equal(1.0, withRanking.Result().Ndcg3, 6);   // 5, 3, 1: the ideal order
        Assert.True(tied.Result().Ndcg3 < 1.0);
    }

    [Fact]
    public void AddUser_WithWholeStars_MeasuresMaeOnTheStarsAndRmseOnTheExpectedRatings()
    {
        float[] actual = [4, 4, 4, 2];
        float[] expected = [3.5f, 3.5f, 3.5f, 3.5f];
        float[] stars = [4, 4, 4, 4];

        var metrics = new MetricAccumulator();
        metrics.AddUser(stars, expected, actual, expected);
        var result = metrics.Result();

        Assert.Equal(0.5, result.Mae, 6);                  // 0, 0, 0, 2
        Assert.Equal(0.75, result.MaeOfExpected!.Value, 6); // 0.5, 0.5, 0.5, 1.5
        Assert.Equal(Math.Sqrt((3 * 0.25 + 2.25) / 4), result.Rmse, 6);
        Assert.Equal(2.0, result.MaeByRating![2]!.Value, 6);
    }

    [Fact]
    public void AddUser_WithOnePrediction_ReportsNoSeparateMaeOfExpected()
    {
        var metrics = new MetricAccumulator();
        metrics.AddUser([3.5f, 4f], [4f, 4f]);

        Assert.Null(metrics.Result().MaeOfExpected);
    }
}

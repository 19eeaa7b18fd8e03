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
}

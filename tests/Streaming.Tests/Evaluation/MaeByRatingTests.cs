using System.Text.Json;
using Streaming.Shared.Evaluation;

namespace Streaming.Tests.Evaluation;

[Trait("Kind", "Unit")]
public sealed class MaeByRatingTests
{
    [Fact]
    public void Result_PoolsTheErrorOfEachTrueRatingOverUsers()
    {
        var metrics = new MetricAccumulator();
        metrics.AddUser([2f, 4f, 4f], [1f, 4f, 5f]);
        metrics.AddUser([3f, 3f], [1f, 5f]);

        var byRating = metrics.Result().MaeByRating!;

        Assert.Equal(1.5, byRating[1]!.Value, 6);    // |2-1| and |3-1|
        Assert.Null(byRating[2]);
        Assert.Null(byRating[3]);
        Assert.Equal(0.0, byRating[4]!.Value, 6);
        Assert.Equal(1.5, byRating[5]!.Value, 6);    // |4-5| and |3-5|
    }

    [Fact]
    public void PartitionMetrics_SerialiseMaeByRatingKeyedByTheRating_AndRoundTrip()
    {
        var metrics = new MetricAccumulator();
        metrics.AddUser([2f, 4f], [1f, 4f]);
        var result = metrics.Result();

        string json = JsonSerializer.Serialize(result);

        Assert.Contains("\"mae_by_rating\":{\"1\":1,\"4\":0}", json, StringComparison.Ordinal);
        Assert.Equal(result, JsonSerializer.Deserialize<PartitionMetrics>(json));
    }
}

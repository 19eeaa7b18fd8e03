using Streaming.Shared.Models;

namespace Streaming.Tests.Models;

[Trait("Kind", "Unit")]
public sealed class RatingDecoderTests
{
    [Theory]
    [InlineData(1.0f, 1f)]
    [InlineData(1.49f, 1f)]
    [InlineData(1.5f, 2f)]
    [InlineData(3.49f, 3f)]
    [InlineData(3.5f, 4f)]
    [InlineData(4.99f, 5f)]
    [InlineData(5.0f, 5f)]
    public void Rounding_DecodesTheNearestStar_HalvesUp(float expected, float star) =>
        Assert.Equal(star, RatingDecoder.Rounding.Decode(expected));

    [Fact]
    public void Decode_PredictsTheStarWhoseIntervalHoldsTheExpectedRating()
    {
        var decoder = new RatingDecoder([1.8f, 2.6f, 3.2f, 4.6f]);

        Assert.Equal([1f, 2f, 3f, 4f, 4f, 5f], new[] { 1.7f, 1.8f, 3.1f, 3.2f, 4.59f, 4.6f }.Select(decoder.Decode));
    }

    [Theory]
    [InlineData(new[] { 1.5f, 2.5f, 3.5f }, "must hold 4 values")]
    [InlineData(new[] { 1.5f, 2.5f, 2.5f, 4.5f }, "must increase strictly")]
    [InlineData(new[] { 1.5f, float.NaN, 3.5f, 4.5f }, "thresholds[1] is not a finite number")]
    public void Problem_NamesTheFieldAndWhatIsWrong(float[] thresholds, string problem)
    {
        string? text = new RatingDecoder(thresholds).Problem();

        Assert.NotNull(text);
        Assert.Contains("ratingDecoder.thresholds", text, StringComparison.Ordinal);
        Assert.Contains(problem, text, StringComparison.Ordinal);
    }
}

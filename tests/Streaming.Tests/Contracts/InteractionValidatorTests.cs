using System.Text;
using Streaming.Shared.Contracts;

namespace Streaming.Tests.Contracts;

[Trait("Kind", "Unit")]
public sealed class InteractionValidatorTests
{
    private static readonly InteractionValidator Validator = new(new ValidationRules(), item => item is >= 1 and <= 100);

    private const string Good = """{"schema":"interaction.v1","eventId":"e-1","userId":"u-7","itemId":42,"rating":4,"eventTime":"2026-11-23T12:00:00Z","profile":{"gender":"F","age":"25"}}""";

    [Fact]
    public void Validate_WellFormedRating_ReturnsTheInteraction()
    {
        var result = Validator.Validate("u-7", Encoding.UTF8.GetBytes(Good));

        Assert.True(result.IsValid, result.Reason);
        var i = result.Interaction!;
        Assert.Equal(("e-1", "u-7", 42, 4f), (i.EventId, i.UserId, i.ItemId, i.Rating));
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero), i.EventTime);
        Assert.Equal("F", i.Profile!.Gender);
    }

    [Fact]
    public void Validate_ImplicitSignal_MapsToItsConfiguredRating()
    {
        var json = Good.Replace("\"rating\":4", "\"signal\":\"click\"", StringComparison.Ordinal);

        var result = Validator.Validate("u-7", Encoding.UTF8.GetBytes(json));

        Assert.True(result.IsValid, result.Reason);
        Assert.Equal(4f, result.Interaction!.Rating);
    }

    [Theory]
    [InlineData("{not json", "malformed JSON")]
    [InlineData("""{"schema":"interaction.v1","userId":"u-7","itemId":42,"rating":4,"eventTime":"2026-11-23T12:00:00Z"}""", "malformed JSON")]
    [InlineData("""{"schema":"interaction.v2","eventId":"e","userId":"u-7","itemId":42,"rating":4,"eventTime":"2026-11-23T12:00:00Z"}""", "unsupported schema")]
    [InlineData("""{"schema":"interaction.v1","eventId":"e","userId":"u-7","itemId":4242,"rating":4,"eventTime":"2026-11-23T12:00:00Z"}""", "unknown item 4242")]
    [InlineData("""{"schema":"interaction.v1","eventId":"e","userId":"u-7","itemId":42,"rating":7,"eventTime":"2026-11-23T12:00:00Z"}""", "rating 7 is outside 1..5")]
    [InlineData("""{"schema":"interaction.v1","eventId":"e","userId":"u-7","itemId":42,"signal":"stare","eventTime":"2026-11-23T12:00:00Z"}""", "unknown signal 'stare'")]
    [InlineData("""{"schema":"interaction.v1","eventId":"e","userId":"u-7","itemId":42,"eventTime":"2026-11-23T12:00:00Z"}""", "neither rating nor signal")]
    [InlineData("""{"schema":"interaction.v1","eventId":"","userId":"u-7","itemId":42,"rating":4,"eventTime":"2026-11-23T12:00:00Z"}""", "eventId must be")]
    [InlineData("""{"schema":"interaction.v1","eventId":"e","userId":"u-8","itemId":42,"rating":4,"eventTime":"2026-11-23T12:00:00Z"}""", "is not the event's userId")]
    [InlineData("", "empty payload")]
    public void Validate_BadMessage_IsRejectedWithItsReason(string json, string reason)
    {
        var result = Validator.Validate("u-7", Encoding.UTF8.GetBytes(json));

        Assert.False(result.IsValid);
        Assert.Contains(reason, result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_OversizedPayload_IsRejectedUnread()
    {
        var result = Validator.Validate("u-7", new byte[5000]);

        Assert.False(result.IsValid);
        Assert.Equal("payload of 5000 bytes exceeds 4096", result.Reason);
    }
}

using System.Text.Json;
using Streaming.Cli.Commands;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Cli;

[Trait("Kind", "Integration")]
public sealed class PublishConsumeCommandTests(KafkaMockClusterFixture kafka) : IClassFixture<KafkaMockClusterFixture>
{
    [Fact]
    public void Publish_SyntheticUsers_WritesValidContractV1EventsThatConsumeReadsBack()
    {
        string topic = "interactions-" + Guid.NewGuid().ToString("N")[..8];
        var data = SyntheticDataset.Generate(new SyntheticOptions());
        int expected = data.Ratings.Where(r => r.UserId <= 5).Count();

        Assert.Equal(0, PublishCommand.Run(kafka.BootstrapServers, topic, "synthetic", 5, 0, TimeProvider.System, TestContext.Current.CancellationToken));
        var output = new StringWriter();
        Assert.Equal(0, ConsumeCommand.Run(kafka.BootstrapServers, topic, fromBeginning: true, max: expected, idleSeconds: 20, output, TestContext.Current.CancellationToken));

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(expected, lines.Length);
        var validator = new InteractionValidator(new ValidationRules(), data.Items.ContainsKey);
        var events = lines.Select(line =>
        {
            using var doc = JsonDocument.Parse(line);
            string key = doc.RootElement.GetProperty("key").GetString()!;
            var result = validator.Validate(key, System.Text.Encoding.UTF8.GetBytes(doc.RootElement.GetProperty("value").GetRawText()));
            Assert.True(result.IsValid, result.Reason);
            return result.Interaction!;
        }).ToList();
        Assert.Equal(expected, events.Select(e => e.EventId).Distinct().Count());
        Assert.Equal(5, events.Count(e => e.Profile is not null));   // the profile rides on each user's first event
        Assert.Equal(["1", "2", "3", "4", "5"], events.Select(e => e.UserId).Distinct().Order());
    }
}

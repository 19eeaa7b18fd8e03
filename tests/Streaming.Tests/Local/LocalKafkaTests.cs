using Streaming.Local;

namespace Streaming.Tests.Local;

/// <summary>The local broker the demo and the benchmarks start: the `streaming` command's mock cluster, found next to the library.</summary>
[Trait("Kind", "Integration")]
public sealed class LocalKafkaTests
{
    [Fact]
    public void Start_WithoutACommandPath_RunsTheStreamingMockBrokerAndReportsItsAddress()
    {
        using var kafka = LocalKafka.Start();

        Assert.StartsWith("127.0.0.1:", kafka.BootstrapServers, StringComparison.Ordinal);
    }
}

using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Ingest;

/// <summary>The Ingest service as a separate process.</summary>
public sealed class IngestProcessTests(RedisServerFixture redis, KafkaMockClusterFixture kafka)
    : IClassFixture<RedisServerFixture>, IClassFixture<KafkaMockClusterFixture>
{
    [Fact]
    public void Ingest_WithoutBootstrapServers_FailsAtStartNamingTheKey()
    {
        var environment = Environment(Guid.NewGuid().ToString("N")[..8]);
        environment["Kafka__BootstrapServers"] = "";

        using var service = ServiceProcess.Start("Streaming.Ingest", environment);

        Assert.True(service.WaitForExit(TimeSpan.FromSeconds(30)), "the service kept running with invalid configuration");
        Assert.NotEqual(0, service.ExitCode);
        Assert.Contains("BootstrapServers", service.Output, StringComparison.Ordinal);
    }

    private Dictionary<string, string> Environment(string run) => new()
    {
        ["Kafka__BootstrapServers"] = kafka.BootstrapServers,
        ["Kafka__InteractionsTopic"] = $"interactions-{run}",
        ["Kafka__DeadLetterTopic"] = $"interactions.dlq-{run}",
        ["Kafka__AdaptRequestsTopic"] = $"adapt-requests-{run}",
        ["Redis__Configuration"] = $"127.0.0.1:{redis.Port}",
        ["Redis__KeyPrefix"] = "t" + run,
        ["Ingest__GroupId"] = $"ingest-{run}",
        ["Ingest__Catalogue"] = "synthetic",
        ["Sessions__AdaptThreshold"] = "5",
        ["Sessions__AdaptEvery"] = "5",
        ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
        ["Logging__LogLevel__Default"] = "Warning",
    };
}

using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;
using Streaming.Shared.Contracts;

namespace Streaming.Tests.Infrastructure;

/// <summary>Configuration and helpers for running the services as processes against the test broker and Redis.</summary>
internal static class PipelineEnvironment
{
    /// <summary>
    /// The environment of both services for one test run: topics (created here, before anyone subscribes), key
    /// prefix and consumer groups are unique to <paramref name="run"/>, so tests can share the broker and Redis.
    /// </summary>
    public static Dictionary<string, string> For(string run, KafkaMockClusterFixture kafka, RedisServerFixture redis)
    {
        ArgumentNullException.ThrowIfNull(kafka);
        kafka.CreateTopics($"interactions-{run}", $"interactions.dlq-{run}", $"adapt-requests-{run}", $"adapt-requests.dlq-{run}", $"recommendations-{run}");
        return Settings(run, kafka, redis);
    }

    private static Dictionary<string, string> Settings(string run, KafkaMockClusterFixture kafka, RedisServerFixture redis) => new()
    {
        ["Kafka__BootstrapServers"] = kafka.BootstrapServers,
        ["Kafka__InteractionsTopic"] = $"interactions-{run}",
        ["Kafka__DeadLetterTopic"] = $"interactions.dlq-{run}",
        ["Kafka__AdaptRequestsTopic"] = $"adapt-requests-{run}",
        ["Kafka__AdaptRequestsDeadLetterTopic"] = $"adapt-requests.dlq-{run}",
        ["Kafka__RecommendationsTopic"] = $"recommendations-{run}",
        ["Redis__Configuration"] = $"127.0.0.1:{redis.Port}",
        ["Redis__KeyPrefix"] = "t" + run,
        ["Ingest__GroupId"] = $"ingest-{run}",
        ["Ingest__Catalogue"] = "synthetic",
        ["Adapter__GroupId"] = $"adapter-{run}",
        ["Adapter__Catalogue"] = "synthetic",
        ["Adapter__FastWeightKeyPrefix"] = "w" + run,
        ["Adapter__ModelPollMs"] = "200",
        ["Sessions__AdaptThreshold"] = "5",
        ["Sessions__AdaptEvery"] = "5",
        ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
        // A killed consumer holds its partitions until its session expires: keep that short so restarts take over fast.
        ["Kafka__ConsumerSettings__session.timeout.ms"] = "6000",
        ["Kafka__ConsumerSettings__heartbeat.interval.ms"] = "1500",
        ["Logging__LogLevel__Default"] = "Warning",
    };

    /// <summary><paramref name="environment"/> with Kestrel's address logged, for tests that read /health or /metrics.</summary>
    public static Dictionary<string, string> WithHttp(Dictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        return environment;
    }

    /// <summary>GET <paramref name="path"/> of a service: status code and body.</summary>
    public static async Task<(int Status, string Body)> GetAsync(Uri service, string path)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var response = await http.GetAsync(new Uri(service, path));
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public static void Produce(IProducer<string?, byte[]> producer, string topic, IEnumerable<InteractionEvent> events)
    {
        foreach (var e in events)
        {
            producer.Produce(topic, new Message<string?, byte[]> { Key = e.UserId, Value = JsonSerializer.SerializeToUtf8Bytes(e) });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails if a service exits or 90 s pass.</summary>
    public static async Task WaitUntil(Func<Task<bool>> condition, params ServiceProcess[] services)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            foreach (var service in services)
            {
                Assert.False(service.HasExited, "a service exited: " + service.Output);
            }

            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(90), "timed out; service output: " + string.Join("\n---\n", services.Select(s => s.Output)));
            await Task.Delay(100);
        }
    }
}

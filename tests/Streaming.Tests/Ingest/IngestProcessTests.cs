using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Ingest;

/// <summary>The Ingest service as a separate process, against the Kafka mock cluster and a private redis-server.</summary>
public sealed class IngestProcessTests(RedisServerFixture redis, KafkaMockClusterFixture kafka)
    : IClassFixture<RedisServerFixture>, IClassFixture<KafkaMockClusterFixture>
{
    [Fact]
    public async Task IngestKilledMidStreamAndRestarted_AppliesEveryEventExactlyOnceAndRequestsEveryDueUser()
    {
        var redisConnection = redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        var environment = Environment(run);
        var items = SyntheticDataset.Generate(new SyntheticOptions()).Items.Keys.Order().ToArray();
        const int Users = 100, PerUser = 12;
        var events = Enumerable.Range(0, Users * PerUser)
            .Select(i => new InteractionEvent
            {
                EventId = $"{run}-{i}",
                UserId = $"user-{i % Users}",
                ItemId = items[i % items.Length],
                Rating = 1 + (i % 5),
                EventTime = DateTimeOffset.UnixEpoch.AddDays(20_000).AddSeconds(i),
            })
            .ToArray();

        using var producer = kafka.Producer();
        await Produce(producer, environment["Kafka__InteractionsTopic"], events[..(events.Length / 2)]);
        using (var first = ServiceProcess.Start("Streaming.Ingest", environment))
        {
            await WaitUntil(async () => await Applied(redisConnection, run, Users) > 0, first);
            first.KillHard();   // mid-stream: some batches applied, some offsets not yet committed
        }

        // Redeliver everything once more (a producer retry storm), then the rest.
        await Produce(producer, environment["Kafka__InteractionsTopic"], events[..(events.Length / 2)]);
        await Produce(producer, environment["Kafka__InteractionsTopic"], events[(events.Length / 2)..]);
        using var second = ServiceProcess.Start("Streaming.Ingest", environment);
        await WaitUntil(async () => await Applied(redisConnection, run, Users) == Users * PerUser, second);

        var store = new RedisSessionStore(redisConnection, new SessionStoreOptions(), "t" + run);
        var sessions = await store.LoadAsync(Enumerable.Range(0, Users).Select(u => $"user-{u}").ToList());
        Assert.All(sessions, s => Assert.Equal(PerUser, s.Interactions));
        // Threshold 5, then every 5: each user is due at 5 and 10; duplicates are allowed, gaps are not.
        var requests = kafka.ReadUntil(environment["Kafka__AdaptRequestsTopic"], read => DueUsers(read).Count >= Users * 2, TimeSpan.FromSeconds(30));
        Assert.Equal(Users * 2, DueUsers(requests).Count);
    }

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
        // A killed consumer holds its partitions until its session expires: keep that short so restarts take over fast.
        ["Kafka__Settings__session.timeout.ms"] = "6000",
        ["Kafka__Settings__heartbeat.interval.ms"] = "1500",
        ["Logging__LogLevel__Default"] = "Warning",
    };

    private static HashSet<(string UserId, long Interactions)> DueUsers(List<ConsumeResult<string?, byte[]>> messages) =>
        messages.Select(m => JsonSerializer.Deserialize<AdaptRequest>(m.Message.Value)!).Select(r => (r.UserId, r.Interactions)).ToHashSet();

    private static async Task Produce(IProducer<string?, byte[]> producer, string topic, IEnumerable<InteractionEvent> events)
    {
        foreach (var e in events)
        {
            producer.Produce(topic, new Message<string?, byte[]> { Key = e.UserId, Value = JsonSerializer.SerializeToUtf8Bytes(e) });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
        await Task.CompletedTask;
    }

    private static async Task<long> Applied(StackExchange.Redis.IConnectionMultiplexer redis, string run, int users)
    {
        var store = new RedisSessionStore(redis, new SessionStoreOptions(), "t" + run);
        var sessions = await store.LoadAsync(Enumerable.Range(0, users).Select(u => $"user-{u}").ToList());
        return sessions.Sum(s => s.Interactions);
    }

    private static async Task WaitUntil(Func<Task<bool>> condition, ServiceProcess service)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.False(service.HasExited, "the service exited: " + service.Output);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(90), "timed out; service output: " + service.Output);
            await Task.Delay(100);
        }
    }
}

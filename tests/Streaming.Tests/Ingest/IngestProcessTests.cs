using System.Text.Json;
using Confluent.Kafka;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Ingest;

/// <summary>The Ingest service as a separate process, against the Kafka mock cluster and a private redis-server.</summary>
[Trait("Kind", "EndToEnd")]
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
        PipelineEnvironment.Produce(producer, environment["Kafka__InteractionsTopic"], events[..(events.Length / 2)]);
        using (var first = ServiceProcess.Start("Streaming.Ingest", environment))
        {
            await PipelineEnvironment.WaitUntil(async () => await Applied(redisConnection, run, Users) > 0, first);
            first.KillHard();   // mid-stream: some batches applied, some offsets not yet committed
        }

        // Redeliver everything once more (a producer retry storm), then the rest.
        PipelineEnvironment.Produce(producer, environment["Kafka__InteractionsTopic"], events[..(events.Length / 2)]);
        PipelineEnvironment.Produce(producer, environment["Kafka__InteractionsTopic"], events[(events.Length / 2)..]);
        using var second = ServiceProcess.Start("Streaming.Ingest", environment);
        await PipelineEnvironment.WaitUntil(async () => await Applied(redisConnection, run, Users) == Users * PerUser, second);

        var store = new RedisSessionStore(redisConnection, new SessionStoreOptions(), "t" + run);
        var sessions = await store.LoadAsync(Enumerable.Range(0, Users).Select(u => $"user-{u}").ToList());
        Assert.All(sessions, s => Assert.Equal(PerUser, s.Interactions));
        // Threshold 5, then every 5: each user is due at 5 and 10; duplicates are allowed, gaps are not.
        var requests = kafka.ReadUntil(environment["Kafka__AdaptRequestsTopic"], read => DueUsers(read).Count >= Users * 2, TimeSpan.FromSeconds(30));
        Assert.Equal(Users * 2, DueUsers(requests).Count);
    }

    [Fact]
    public async Task Ingest_CatalogueFileReplacedWhileRunning_AcceptsTheNewItemsWithoutRestart()
    {
        var redisConnection = redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        var environment = Environment(run);
        string folder = Directory.CreateTempSubdirectory("streaming-catalogue-").FullName;
        const string Header = "item_id:token\tmovie_title:token_seq\trelease_year:token\tgenre:token_seq";
        string items = Path.Combine(folder, "items.item");
        File.WriteAllText(items, $"{Header}\n1\tA\t1990\tDrama\n");
        environment["Ingest__Catalogue"] = folder;
        environment["Ingest__CatalogueRefreshSeconds"] = "1";
        using var producer = kafka.Producer();
        InteractionEvent Event(string id, int item) => new() { EventId = id, UserId = "u-" + run, ItemId = item, Rating = 4, EventTime = DateTimeOffset.UnixEpoch.AddDays(20_000) };

        using var service = ServiceProcess.Start("Streaming.Ingest", environment);
        PipelineEnvironment.Produce(producer, environment["Kafka__InteractionsTopic"], [Event("before", 2)]);
        var rejected = kafka.ReadAll(environment["Kafka__DeadLetterTopic"], 1, TimeSpan.FromSeconds(60));

        // A new catalogue, written next to the old one and moved into place.
        File.WriteAllText(items + ".next", $"{Header}\n1\tA\t1990\tDrama\n2\tB\t1999\tComedy\n");
        File.SetLastWriteTimeUtc(items + ".next", File.GetLastWriteTimeUtc(items).AddSeconds(5));
        File.Move(items + ".next", items, overwrite: true);
        var store = new RedisSessionStore(redisConnection, new SessionStoreOptions(), "t" + run);
        int attempt = 0;
        await PipelineEnvironment.WaitUntil(async () =>
        {
            PipelineEnvironment.Produce(producer, environment["Kafka__InteractionsTopic"], [Event($"after-{attempt++}", 2)]);
            await Task.Delay(500);
            return (await store.LoadAsync(["u-" + run])).Count == 1;
        }, service);

        Assert.Contains("unknown item 2", System.Text.Encoding.UTF8.GetString(Assert.Single(rejected).Message.Headers.GetLastBytes(Streaming.Shared.Messaging.DeadLetterHeaders.Reason)), StringComparison.Ordinal);
        Directory.Delete(folder, recursive: true);
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

    private Dictionary<string, string> Environment(string run) => PipelineEnvironment.For(run, kafka, redis);

    private static HashSet<(string UserId, long Interactions)> DueUsers(List<ConsumeResult<string?, byte[]>> messages) =>
        messages.Select(m => JsonSerializer.Deserialize<AdaptRequest>(m.Message.Value)!).Where(r => r.Basis == RecommendationMessage.Adapted).Select(r => (r.UserId, r.Interactions)).ToHashSet();

    private static async Task<long> Applied(StackExchange.Redis.IConnectionMultiplexer redis, string run, int users)
    {
        var store = new RedisSessionStore(redis, new SessionStoreOptions(), "t" + run);
        var sessions = await store.LoadAsync(Enumerable.Range(0, users).Select(u => $"user-{u}").ToList());
        return sessions.Sum(s => s.Interactions);
    }
}

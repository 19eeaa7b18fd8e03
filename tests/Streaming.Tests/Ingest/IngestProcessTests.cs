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
    public async Task IngestKilledMidStreamAndRestarted_AttributesEveryInteractionToItsServedListExactlyOnce()
    {
        var redisConnection = redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        var environment = Environment(run);
        var items = SyntheticDataset.Generate(new SyntheticOptions()).Items.Keys.Order().ToArray();
        const int Users = 60, PerUser = 10;
        var servedAt = DateTimeOffset.UnixEpoch.AddDays(20_000);
        // Even users were served v1, odd ones the canary v2 (both in v2's window); every other interaction is on a listed item.
        var lists = Enumerable.Range(0, Users).Select(u => new RecommendationMessage
        {
            UserId = $"user-{u}",
            Items = [.. items[..5].Select(i => new RecommendedItem(i, 4f, 4f))],
            ModelVersion = u % 2 == 0 ? "v1" : "v2",
            CanaryVersion = "v2",
            Basis = RecommendationMessage.Adapted,
            Interactions = 5,
            TriggerEventTime = servedAt,
            ProducedAt = servedAt,
        }).ToArray();
        var events = Enumerable.Range(0, Users * PerUser)
            .Select(i => new InteractionEvent
            {
                EventId = $"{run}-{i}",
                UserId = $"user-{i % Users}",
                ItemId = (i / Users) % 2 == 0 ? items[(i / Users) % 5] : items[100 + (i / Users)],
                Rating = 4,
                EventTime = servedAt.AddSeconds(1 + (i / Users)),
            })
            .ToArray();

        using var producer = kafka.Producer();
        foreach (var list in lists)
        {
            producer.Produce(environment["Kafka__RecommendationsTopic"], new Message<string?, byte[]> { Key = list.UserId, Value = JsonSerializer.SerializeToUtf8Bytes(list) });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
        var db = redisConnection.GetDatabase();
        // A user's last list is kept in the user's session hash.
        var sessionKeys = lists.Select(l => (StackExchange.Redis.RedisKey)$"t{run}:{{{l.UserId}}}:m").ToArray();
        async Task<int> Stored() => (await Task.WhenAll(sessionKeys.Select(k => db.HashExistsAsync(k, "v")))).Count(stored => stored);
        using (var first = ServiceProcess.Start("Streaming.Ingest", environment))
        {
            // The lists first, so that every interaction comes after its user's list is stored.
            await PipelineEnvironment.WaitUntil(async () => await Stored() == Users, first);
            PipelineEnvironment.Produce(producer, environment["Kafka__InteractionsTopic"], events[..(events.Length / 2)]);
            await PipelineEnvironment.WaitUntil(async () => await Applied(redisConnection, run, Users) > 0, first);
            first.KillHard();   // mid-stream: some batches applied and attributed, some offsets not yet committed
        }

        PipelineEnvironment.Produce(producer, environment["Kafka__InteractionsTopic"], events[..(events.Length / 2)]);
        PipelineEnvironment.Produce(producer, environment["Kafka__InteractionsTopic"], events[(events.Length / 2)..]);
        using var second = ServiceProcess.Start("Streaming.Ingest", environment);
        await PipelineEnvironment.WaitUntil(async () => await Applied(redisConnection, run, Users) == Users * PerUser, second);

        var store = new RedisSessionStore(redisConnection, new SessionStoreOptions(), "t" + run);
        var tallies = (await store.ReadTalliesAsync()).ToDictionary(t => t.Arm);
        Assert.Equal(["v1@v2", "v2@v2"], tallies.Keys.Order(StringComparer.Ordinal));
        Assert.All(tallies.Values, t => Assert.Equal((Users / 2L, Users / 2L * PerUser, Users / 2L * PerUser / 2), (t.Users, t.Events, t.Hits)));
        Assert.All(tallies.Values, t => Assert.Equal(0.5, t.MeanUserHitRate, 9));
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

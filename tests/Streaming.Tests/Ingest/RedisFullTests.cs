using StackExchange.Redis;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Ingest;

/// <summary>
/// Ingest as a process against a Redis that is full (<c>maxmemory 32mb</c>, <c>noeviction</c>): its own class, so
/// its own redis-server, because the limit applies to the whole server.
/// </summary>
public sealed class RedisFullTests(RedisServerFixture redis, KafkaMockClusterFixture kafka)
    : IClassFixture<RedisServerFixture>, IClassFixture<KafkaMockClusterFixture>
{
    [Fact]
    public async Task Ingest_RedisOutOfMemory_PausesUnhealthyWithoutExitingAndAppliesEverythingOnceWhenTheLimitIsRaised()
    {
        redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        var environment = PipelineEnvironment.WithHttp(PipelineEnvironment.For(run, kafka, redis));
        await using var admin = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port},allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        var db = admin.GetDatabase();
        // Past 32 MB before the limit is set: every write that needs memory is refused with OOM from then on.
        var filler = new byte[1 << 20];
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => db.StringSetAsync($"filler-{run}-{i}", filler)));
        await server.ConfigSetAsync("maxmemory-policy", "noeviction");
        await server.ConfigSetAsync("maxmemory", "32mb");
        var items = SyntheticDataset.Generate(new SyntheticOptions()).Items.Keys.Order().ToArray();
        const int Users = 50, PerUser = 6;
        var events = Enumerable.Range(0, Users * PerUser)
            .Select(i => new InteractionEvent { EventId = $"{run}-{i}", UserId = $"user-{i % Users}", ItemId = items[i % items.Length], Rating = 3, EventTime = DateTimeOffset.UnixEpoch.AddDays(20_000).AddSeconds(i) })
            .ToArray();
        using var producer = kafka.Producer();
        var store = new RedisSessionStore(admin, new SessionStoreOptions(), "t" + run);
        var userIds = Enumerable.Range(0, Users).Select(u => $"user-{u}").ToList();

        try
        {
            using var ingest = ServiceProcess.Start("Streaming.Ingest", environment);
            var address = await ingest.HttpAddressAsync(TimeSpan.FromSeconds(60));
            PipelineEnvironment.Produce(producer, environment["Kafka__InteractionsTopic"], events);

            // Paused: unhealthy, retrying (counted), still running, nothing applied.
            await PipelineEnvironment.WaitUntil(async () => (await PipelineEnvironment.GetAsync(address, "/health")).Status == 503, ingest);
            await PipelineEnvironment.WaitUntil(async () => RetryCount((await PipelineEnvironment.GetAsync(address, "/metrics")).Body) >= 3, ingest);
            Assert.Empty(await store.LoadAsync(userIds));

            // The limit is raised: the same batch goes through, every event applied once, healthy again.
            await server.ConfigSetAsync("maxmemory", "0");
            await PipelineEnvironment.WaitUntil(async () => (await store.LoadAsync(userIds)).Sum(s => s.Interactions) == events.Length, ingest);
            await PipelineEnvironment.WaitUntil(async () => (await PipelineEnvironment.GetAsync(address, "/health")).Status == 200, ingest);
            Assert.All(await store.LoadAsync(userIds), s => Assert.Equal(PerUser, s.Interactions));
            Assert.False(ingest.HasExited, ingest.Output);
        }
        finally
        {
            await server.ConfigSetAsync("maxmemory", "0");
        }
    }

    private static double RetryCount(string metrics) =>
        metrics.Split('\n').Where(l => l.StartsWith("streaming_ingest_redis_retries_total ", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
}

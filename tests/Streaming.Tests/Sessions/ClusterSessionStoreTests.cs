using StackExchange.Redis;
using Streaming.Shared.Contracts;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Sessions;

[Trait("Kind", "Integration")]
public sealed class ClusterSessionStoreTests(RedisClusterFixture cluster) : IClassFixture<RedisClusterFixture>
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Fixture_IsAClusterNode()
    {
        Assert.All(cluster.Require().GetServers(), s => Assert.Equal(ServerType.Cluster, s.ServerType));
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("pipelined")]
    public async Task Apply_ManyUsersPerBatchOnACluster_AgreesWithTheReferenceEventByEvent(string kind)
    {
        // A script's keys must share a slot on a cluster: the store buckets users by slot. Two hundred users
        // span many slots, so one script call over all of them would be refused (CROSSSLOT).
        string run = "c" + Guid.NewGuid().ToString("N")[..8];
        var options = new SessionStoreOptions { AdaptThreshold = 3, AdaptEvery = 2, MaxHistory = 5, DedupWindow = 16 };
        ISessionStore store = kind == "redis" ? new RedisSessionStore(cluster.Require(), options, run) : new RedisPipelinedSessionStore(cluster.Require(), options, run);
        var reference = new InMemorySessionStore(options, TimeProvider.System);
        var events = Enumerable.Range(0, 2_000)
            .Select(i => new Interaction($"e{i}", $"{run}-{i % 200}", i, 1 + (i % 5), T0.AddSeconds(i), i < 200 ? new ProfileFields { Gender = "F" } : null))
            .ToList();

        var first = await store.ApplyAsync(events);
        var again = await store.ApplyAsync(events[..1_000]);   // a redelivered half

        Assert.Equal(await reference.ApplyAsync(events), first);
        Assert.Equal(await reference.ApplyAsync(events[..1_000]), again);
        var users = Enumerable.Range(0, 200).Select(u => $"{run}-{u}").ToList();
        var expected = await reference.LoadAsync(users);
        var loaded = await store.LoadAsync(users);
        Assert.Equal(expected.Select(s => (s.UserId, s.Profile, s.Interactions)), loaded.Select(s => (s.UserId, s.Profile, s.Interactions)));
        Assert.Equal(expected.SelectMany(s => s.Recent), loaded.SelectMany(s => s.Recent));
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("pipelined")]
    public async Task Attribution_OnACluster_TalliesEqualTheHandComputation(string kind)
    {
        // The outcomes go to the aggregate hash of the user's own slot (a script's keys share one); the reader adds up every slot's.
        string run = "c" + Guid.NewGuid().ToString("N")[..8];
        var options = new SessionStoreOptions();
        ISessionStore store = kind == "redis" ? new RedisSessionStore(cluster.Require(), options, run) : new RedisPipelinedSessionStore(cluster.Require(), options, run);

        await Online.Script.RunAsync(store);
        await Online.Script.RunAsync(store);

        Online.Script.AssertHandComputation((await store.ReadTalliesAsync()).ToDictionary(t => t.Arm));
    }
}

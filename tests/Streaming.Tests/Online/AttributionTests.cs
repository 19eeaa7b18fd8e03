using Streaming.Shared.Contracts;
using Streaming.Shared.Online;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Online;

/// <summary>Attribution in the session stores: the script, the pipelined commands and the in-memory store, held to one hand computation.</summary>
[Trait("Kind", "Integration")]
public sealed class AttributionTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    internal static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("redis")]
    [InlineData("pipelined")]
    [InlineData("memory")]
    public async Task Apply_ScriptedStreamAfterServedLists_TalliesEqualTheHandComputation(string kind)
    {
        var store = Store(kind);
        await Script.RunAsync(store);

        var tallies = (await store.ReadTalliesAsync()).ToDictionary(t => t.Arm);

        Script.AssertHandComputation(tallies);
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("pipelined")]
    [InlineData("memory")]
    public async Task Apply_ScriptedStreamRedeliveredTwice_CountsEveryOutcomeOnce(string kind)
    {
        var store = Store(kind);
        await Script.RunAsync(store);
        await Script.RunAsync(store);   // lists and interactions redelivered: all of it
        await store.ApplyAsync(Script.Events.Where((_, i) => i % 2 == 0).ToList());   // and a producer's duplicates

        var tallies = (await store.ReadTalliesAsync()).ToDictionary(t => t.Arm);

        Script.AssertHandComputation(tallies);
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("pipelined")]
    [InlineData("memory")]
    public async Task RecordServed_OlderListArrivingLate_DoesNotReplaceTheNewerOne(string kind)
    {
        var store = Store(kind);
        await store.RecordServedAsync([new ServedList("u", "v2", null, T0.AddSeconds(20), [new RecommendedItem(7, 4f, 4f)])]);
        await store.RecordServedAsync([new ServedList("u", "v1", null, T0.AddSeconds(10), [new RecommendedItem(8, 4f, 4f)])]);

        await store.ApplyAsync([new Interaction("e1", "u", 7, 4, T0.AddSeconds(30), null)]);

        var tally = Assert.Single(await store.ReadTalliesAsync());
        Assert.Equal(("v2", 1L, 1L), (tally.Arm, tally.Events, tally.Hits));
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("pipelined")]
    public async Task RecordServed_KeepsTheListInTheSessionHash_AndTheCountersBesideItExpire(string kind)
    {
        string prefix = "a" + Guid.NewGuid().ToString("N")[..8];
        var store = Store(kind, prefix);
        var db = redis.Require().GetDatabase();
        await store.ApplyAsync([new Interaction("e1", "u", 3, 4, T0, null)]);
        await store.RecordServedAsync([new ServedList("u", "v1", null, T0.AddSeconds(10), [new RecommendedItem(7, 4f, 4f)])]);

        await store.ApplyAsync([new Interaction("e2", "u", 7, 5, T0.AddSeconds(20), null)]);

        // The list is read with the session (one HMGET per user), so it lives in the session hash; the counters of
        // its arm beside it, with the session's TTL.
        var session = await db.HashGetAsync($"{prefix}:{{u}}:m", OnlineLayout.ListFields);
        Assert.Equal(("v1", T0.AddSeconds(10).ToUnixTimeMilliseconds()), (session[0].ToString(), (long)session[2]));
        var counters = (await db.HashGetAllAsync(OnlineLayout.User(prefix, "u"))).ToDictionary(f => f.Name.ToString(), f => (long)f.Value);
        Assert.Equal(new Dictionary<string, long> { ["e|v1"] = 1, ["h|v1"] = 1 }, counters);
        Assert.InRange((await db.KeyTimeToLiveAsync(OnlineLayout.User(prefix, "u")))!.Value.TotalSeconds, 1, new SessionStoreOptions().TtlSeconds);
        var tally = Assert.Single(await store.ReadTalliesAsync());
        Assert.Equal(("v1", 1L, 1L), (tally.Arm, tally.Events, tally.Hits));
    }

    private ISessionStore Store(string kind, string? prefix = null)
    {
        prefix ??= "a" + Guid.NewGuid().ToString("N")[..8];
        var options = new SessionStoreOptions { AdaptThreshold = 5, AdaptEvery = 5 };
        return kind switch
        {
            "memory" => new InMemorySessionStore(options, TimeProvider.System),
            "pipelined" => new RedisPipelinedSessionStore(redis.Require(), options, prefix),
            _ => new RedisSessionStore(redis.Require(), options, prefix),
        };
    }
}

/// <summary>
/// A scripted stream with its figures worked out by hand. User a gets a list of v1 (items 10, 20, 30 predicted
/// 4.5, 3, 2) at T0+10 s, user b one of v2 during canary v2 (item 5 predicted 4) at T0+10 s; later a gets v2's
/// list (item 7 predicted 3) at T0+40 s.
/// <list type="bullet">
/// <item>a at T0+5 s on item 20: before a's list, not attributed.</item>
/// <item>a at T0+20 s on 20, rated 4: v1 hit at rank 2 (1/2), error |3 - 4| = 1; T0+21 s on 99: v1 miss;
/// T0+22 s on 10, rated 5: v1 hit at rank 1, error 0.5; T0+23 s on 30, a "like" (implicit): hit at rank 3, no error.</item>
/// <item>b at T0+30 s on 5, rated 2: v2@v2 hit at rank 1, error 2; T0+31 s on 6: miss.</item>
/// <item>a at T0+50 s on 7, rated 3: v2 (outside a canary) hit at rank 1, error 0.</item>
/// </list>
/// v1: 4 events, 1 user, 3 hits, reciprocal ranks 1/2 + 1 + 1/3, 2 rated with errors 1 and 0.5; user hit rate 3/4.
/// v2@v2: 2 events, 1 user, 1 hit, 1 rated, error 2; user hit rate 1/2. v2: 1 event, 1 hit, error 0.
/// </summary>
internal static class Script
{
    private static readonly DateTimeOffset T0 = AttributionTests.T0;

    public static readonly Interaction[] Events =
    [
        new("a1", "a", 20, 4, T0.AddSeconds(5), null),
        new("a2", "a", 20, 4, T0.AddSeconds(20), null),
        new("a3", "a", 99, 3, T0.AddSeconds(21), null),
        new("a4", "a", 10, 5, T0.AddSeconds(22), null),
        new("a5", "a", 30, 5, T0.AddSeconds(23), null, Explicit: false),
        new("b1", "b", 5, 2, T0.AddSeconds(30), null),
        new("b2", "b", 6, 4, T0.AddSeconds(31), null),
        new("a6", "a", 7, 3, T0.AddSeconds(50), null),
    ];

    /// <summary>Lists and events in stream order, in batches that take both of the script's paths (a user's lone event, and several of one user).</summary>
    public static async Task RunAsync(ISessionStore store)
    {
        await store.ApplyAsync([Events[0]]);
        await store.RecordServedAsync(
        [
            new ServedList("a", "v1", null, T0.AddSeconds(10), [new RecommendedItem(10, 4.5f, 4.5f), new RecommendedItem(20, 3f, 3f), new RecommendedItem(30, 2f, 2f)]),
            new ServedList("b", "v2", "v2", T0.AddSeconds(10), [new RecommendedItem(5, 4f, 4f)]),
        ]);
        await store.ApplyAsync(Events[1..5]);   // four events of one user
        await store.ApplyAsync([Events[5]]);
        await store.ApplyAsync([Events[6]]);
        // A list that predicts no rating (an onboarding list): its hits count, and no error.
        await store.RecordServedAsync([new ServedList("a", "v2", null, T0.AddSeconds(40), [new RecommendedItem(7, 3f)])]);
        await store.ApplyAsync([Events[7]]);
    }

    public static void AssertHandComputation(IReadOnlyDictionary<string, ArmTally> tallies)
    {
        Assert.Equal(["v1", "v2", "v2@v2"], tallies.Keys.Order(StringComparer.Ordinal));
        var v1 = tallies["v1"];
        Assert.Equal((4L, 1L, 3L, 2L), (v1.Events, v1.Users, v1.Hits, v1.Rated));
        Assert.Equal(0.75, v1.HitRate, 12);
        Assert.Equal((0.5 + 1 + (1.0 / 3)) / 4, v1.Mrr, 12);
        Assert.Equal(0.75, v1.Mae, 12);
        Assert.Equal(0.75, v1.MeanUserHitRate, 12);
        var canary = tallies["v2@v2"];
        Assert.Equal((2L, 1L, 1L, 1L), (canary.Events, canary.Users, canary.Hits, canary.Rated));
        Assert.Equal((0.5, 0.5, 2.0), (canary.HitRate, canary.Mrr, canary.Mae));
        Assert.Equal(("v2", "v2"), (canary.Version, canary.Window));
        var v2 = tallies["v2"];
        Assert.Equal((1L, 1L, 1L, 0L), (v2.Events, v2.Users, v2.Hits, v2.Rated));
        Assert.Equal((1.0, 1.0), (v2.HitRate, v2.Mrr));
        Assert.True(double.IsNaN(v2.Mae));
    }
}

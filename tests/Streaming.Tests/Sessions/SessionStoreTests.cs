using Streaming.Shared.Contracts;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Sessions;

[Trait("Kind", "Integration")]
public sealed class SessionStoreTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("redis")]
    [InlineData("memory")]
    public async Task Apply_SameEventTwice_AppliesItOnce(string store)
    {
        var sessions = Store(store, out string user);
        var e = Event(user, "e1", item: 10);

        var first = await sessions.ApplyAsync([e]);
        var again = await sessions.ApplyAsync([e, e]);

        Assert.True(first[0].Applied);
        Assert.All(again, r => Assert.False(r.Applied));
        var session = Assert.Single(await sessions.LoadAsync([user]));
        Assert.Equal(1, session.Interactions);
        Assert.Single(session.Recent);
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("memory")]
    public async Task Apply_CrossingTheThreshold_AdaptsAtNAndThenEveryK(string store)
    {
        var sessions = Store(store, out string user, threshold: 5, every: 3);
        var events = Enumerable.Range(1, 12).Select(i => Event(user, $"e{i}", item: i)).ToArray();

        var results = await sessions.ApplyAsync(events);

        Assert.Equal([5L, 8L, 11L], results.Where(r => r.AdaptNow).Select(r => r.Interactions));
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), results.Select(r => r.Interactions));
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("memory")]
    public async Task Apply_RedeliveredEventThatMadeTheUserDue_RequestsAdaptationAgain(string store)
    {
        // A crash after the write but before the adapt-request was published must not lose the adaptation.
        var sessions = Store(store, out string user, threshold: 3, every: 10);
        var events = Enumerable.Range(1, 3).Select(i => Event(user, $"e{i}", item: i)).ToArray();
        await sessions.ApplyAsync(events);

        var redelivered = await sessions.ApplyAsync(events);

        Assert.Equal([false, false, true], redelivered.Select(r => r.AdaptNow));
        Assert.All(redelivered, r => Assert.False(r.Applied));
        Assert.All(redelivered, r => Assert.Equal(3, r.Interactions));
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("memory")]
    public async Task Apply_FirstEvent_AsksForOnboardingOnceAndAgainOnlyWhenRedeliveredBelowTheThreshold(string store)
    {
        var sessions = Store(store, out string user, threshold: 3, every: 10);
        var events = Enumerable.Range(1, 3).Select(i => Event(user, $"e{i}", item: i)).ToArray();

        var firstTwo = await sessions.ApplyAsync(events[..2]);
        var redeliveredFirst = await sessions.ApplyAsync(events[..1]);
        var third = await sessions.ApplyAsync(events[2..]);
        var redeliveredAfterThreshold = await sessions.ApplyAsync(events[..1]);

        Assert.Equal([true, false], firstTwo.Select(r => r.OnboardNow));
        Assert.True(redeliveredFirst[0].OnboardNow);        // a crash before its request was published loses nothing
        Assert.Equal((false, true), (third[0].OnboardNow, third[0].AdaptNow));
        Assert.False(redeliveredAfterThreshold[0].OnboardNow);   // adapted already: no stale onboarding list
    }

    [Fact]
    public async Task Apply_OnboardingOff_NeverAsksForOnboarding()
    {
        var sessions = new RedisSessionStore(redis.Require(), new SessionStoreOptions { Onboarding = false }, "t" + Guid.NewGuid().ToString("N")[..8]);

        var results = await sessions.ApplyAsync([Event("solo", "e1", item: 1)]);

        Assert.False(results[0].OnboardNow);
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("memory")]
    public async Task Load_ReturnsNewestFirstBoundedHistoryAndTheLatestProfile(string store)
    {
        var sessions = Store(store, out string user, maxHistory: 4);
        var events = Enumerable.Range(1, 6).Select(i => Event(user, $"e{i}", item: i)).ToList();
        events[0] = events[0] with { Profile = new ProfileFields { Gender = "F", Age = "25", Occupation = "4", Zip = "48067" } };
        events[5] = events[5] with { Profile = new ProfileFields { Zip = "10001" } };
        await sessions.ApplyAsync(events);

        var session = Assert.Single(await sessions.LoadAsync([user, "nobody-" + user]));

        Assert.Equal(6, session.Interactions);
        Assert.Equal([6, 5, 4, 3], session.Recent.Select(r => r.ItemId));
        Assert.Equal(T0.AddMinutes(6).ToUnixTimeMilliseconds(), session.Recent[0].EventTimeMs);
        Assert.Equal(new Streaming.Shared.Data.UserProfile("F", "25", "4", "10001"), session.Profile);
    }

    [Fact]
    public async Task Apply_SetsTheSessionTimeToLive()
    {
        var sessions = Store("redis", out string user, ttlSeconds: 600);
        await sessions.ApplyAsync([Event(user, "e1", item: 1)]);

        var ttl = await redis.Require().GetDatabase().KeyTimeToLiveAsync($"{Prefix(user)}:{{{user}}}:h");

        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value.TotalSeconds, 590, 600);
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("memory")]
    public async Task Apply_TenThousandPipelinedEventsOverManyUsers_CountsEachExactlyOnce(string store)
    {
        var sessions = Store(store, out string user);
        var events = Enumerable.Range(0, 10_000).Select(i => Event($"{user}-{i % 100}", $"e{i}", item: i)).ToList();

        await sessions.ApplyAsync(events);
        await sessions.ApplyAsync(events.Take(5_000).ToList());   // a redelivered half

        var loaded = await sessions.LoadAsync(Enumerable.Range(0, 100).Select(u => $"{user}-{u}").ToList());
        Assert.Equal(100, loaded.Count);
        Assert.All(loaded, s => Assert.Equal(100, s.Interactions));
    }

    [Fact]
    public async Task InMemory_SessionUntouchedForLongerThanTheTtl_IsGone()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(T0);
        var sessions = new InMemorySessionStore(new SessionStoreOptions { TtlSeconds = 600 }, time);
        await sessions.ApplyAsync([Event("u", "e1", item: 1)]);

        time.Advance(TimeSpan.FromSeconds(599));
        var before = await sessions.LoadAsync(["u"]);
        time.Advance(TimeSpan.FromSeconds(2));
        var after = await sessions.LoadAsync(["u"]);

        Assert.Single(before);
        Assert.Empty(after);
    }

    /// <summary>The Redis store (against the private redis-server) or the in-memory one: the same behaviour is required of both.</summary>
    private ISessionStore Store(string kind, out string user, int threshold = 5, int every = 5, int maxHistory = 100, int ttlSeconds = 3600)
    {
        user = "u" + Guid.NewGuid().ToString("N")[..12];
        var options = new SessionStoreOptions { AdaptThreshold = threshold, AdaptEvery = every, MaxHistory = maxHistory, TtlSeconds = ttlSeconds };
        return kind == "memory"
            ? new InMemorySessionStore(options, TimeProvider.System)
            : new RedisSessionStore(redis.Require(), options, Prefix(user));
    }

    private static string Prefix(string user) => "t" + user[1..5];

    private static Interaction Event(string user, string id, int item) =>
        new(id, user, item, 1 + (item % 5), T0.AddMinutes(item), null);
}

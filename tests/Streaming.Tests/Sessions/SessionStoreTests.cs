using StackExchange.Redis;
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
    [InlineData("pipelined")]
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
    [InlineData("pipelined")]
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
    [InlineData("pipelined")]
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
    [InlineData("pipelined")]
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

    [Theory]
    [InlineData("redis")]
    [InlineData("pipelined")]
    public async Task Apply_OnboardingOff_NeverAsksForOnboarding(string store)
    {
        var options = new SessionStoreOptions { Onboarding = false };
        string prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        ISessionStore sessions = store == "redis" ? new RedisSessionStore(redis.Require(), options, prefix) : new RedisPipelinedSessionStore(redis.Require(), options, prefix);

        var results = await sessions.ApplyAsync([Event("solo", "e1", item: 1)]);

        Assert.False(results[0].OnboardNow);
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("pipelined")]
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

    [Theory]
    [InlineData("redis")]
    [InlineData("pipelined")]
    public async Task Apply_SetsTheSessionTimeToLive(string store)
    {
        var sessions = Store(store, out string user, ttlSeconds: 600);
        await sessions.ApplyAsync([Event(user, "e1", item: 1)]);

        var server = redis.Require().GetServers().Single();
        var keys = await server.KeysAsync(pattern: $"{Prefix(user)}:{{{user}}}*").ToListAsync(TestContext.Current.CancellationToken);
        var ttl = await redis.Require().GetDatabase().KeyTimeToLiveAsync($"{Prefix(user)}:{{{user}}}:m");

        Assert.Equal([$"{Prefix(user)}:{{{user}}}:m"], keys.Select(k => k.ToString()));   // one hash per user
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value.TotalSeconds, 590, 600);
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("pipelined")]
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

    [Theory]
    [InlineData("redis")]
    [InlineData("pipelined")]
    [InlineData("memory")]
    public async Task Apply_IdOlderThanTheWindowComingBackInTheSameBatch_IsAppliedAgain(string store)
    {
        // Window 16: by the 17th event the first id has left the window, so its redelivery is a new event,
        // exactly as if the window were trimmed after every event, even inside one batch of one user.
        var sessions = Store(store, out string user, window: 16);
        var events = Enumerable.Range(1, 17).Select(i => Event(user, $"e{i}", item: i)).Append(Event(user, "e1", item: 1)).Append(Event(user, "e17", item: 17)).ToList();

        var results = await sessions.ApplyAsync(events);

        Assert.Equal((true, 18L), (results[17].Applied, results[17].Interactions));
        Assert.Equal((false, 18L), (results[18].Applied, results[18].Interactions));
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("pipelined")]
    [InlineData("memory")]
    public async Task Apply_OneEventAtATimePastTheWindow_ForgetsExactlyTheIdsOlderThanTheWindow(string store)
    {
        var sessions = Store(store, out string user, window: 16);
        for (int i = 1; i <= 20; i++)
        {
            await sessions.ApplyAsync([Event(user, $"e{i}", item: i)]);
        }

        var first = await sessions.ApplyAsync([Event(user, "e1", item: 1)]);     // event 1 left the window at event 17
        var fourth = await sessions.ApplyAsync([Event(user, "e4", item: 4)]);    // event 4 at event 20
        var inside = await sessions.ApplyAsync([Event(user, "e7", item: 7)]);    // events 7..22 are the window now
        var leftNow = await sessions.ApplyAsync([Event(user, "e6", item: 6)]);   // event 6 left it at event 22

        Assert.Equal((true, 21L), (first[0].Applied, first[0].Interactions));
        Assert.Equal((true, 22L), (fourth[0].Applied, fourth[0].Interactions));
        Assert.Equal((false, 22L), (inside[0].Applied, inside[0].Interactions));
        Assert.Equal((true, 23L), (leftNow[0].Applied, leftNow[0].Interactions));
    }

    [Theory]
    [InlineData("redis", 1)]
    [InlineData("redis", 7)]
    [InlineData("pipelined", 1)]
    [InlineData("pipelined", 7)]
    public async Task Apply_ManyEvents_KeepsAtMostTwiceTheWindowOfEventIds(string store, int perCall)
    {
        var sessions = Store(store, out string user, window: 16);
        var events = Enumerable.Range(1, 100).Select(i => Event(user, $"e{i}", item: i)).ToList();
        foreach (var call in events.Chunk(perCall))
        {
            await sessions.ApplyAsync(call);
        }

        var fields = await redis.Require().GetDatabase().HashKeysAsync($"{Prefix(user)}:{{{user}}}:m");
        var ids = fields.Select(f => f.ToString()).Where(f => f.StartsWith('i')).ToList();

        Assert.InRange(ids.Count, 16, 32);
        Assert.Contains("ie100", ids);
        Assert.DoesNotContain("ie1", ids);
    }

    [Fact]
    public async Task Apply_RandomBatchesWithRedeliveries_AllStoresAgreeEventByEvent()
    {
        // The in-memory store is the reference (one event at a time); the script and the pipelined commands
        // group events per user and must not differ from it in any result or any stored session.
        var random = new Random(14);
        string run = "r" + Guid.NewGuid().ToString("N")[..8];
        var options = new SessionStoreOptions { AdaptThreshold = 4, AdaptEvery = 3, MaxHistory = 6, DedupWindow = 16 };
        var stores = new ISessionStore[]
        {
            new InMemorySessionStore(options, TimeProvider.System),
            new RedisSessionStore(redis.Require(), options, run + "l"),
            new RedisPipelinedSessionStore(redis.Require(), options, run + "p"),
            new Alternating(new RedisSessionStore(redis.Require(), options, run + "x"), new RedisPipelinedSessionStore(redis.Require(), options, run + "x")),
        };
        var sent = new List<Interaction>();
        for (int batch = 0; batch < 40; batch++)
        {
            var events = new List<Interaction>();
            for (int i = random.Next(1, 120); i > 0; i--)
            {
                if (sent.Count > 0 && random.NextDouble() < 0.3)
                {
                    events.Add(sent[random.Next(Math.Max(0, sent.Count - 200), sent.Count)]);   // a redelivery, recent or older than the window
                    continue;
                }

                string user = $"{run}-{random.Next(6)}";
                var profile = random.NextDouble() < 0.1 ? new ProfileFields { Gender = random.Next(2) == 0 ? "F" : "", Zip = $"{random.Next(100)}" } : null;
                var e = new Interaction($"e{sent.Count}", user, random.Next(1, 3000), 1 + random.Next(9) / 2f, T0.AddSeconds(sent.Count), profile);
                sent.Add(e);
                events.Add(e);
            }

            var results = new List<ApplyResult[]>();
            foreach (var store in stores)
            {
                results.Add(await store.ApplyAsync(events));
            }

            Assert.Equal(results[0], results[1]);
            Assert.Equal(results[0], results[2]);
            Assert.Equal(results[0], results[3]);
        }

        var users = Enumerable.Range(0, 6).Select(u => $"{run}-{u}").ToList();
        var reference = await stores[0].LoadAsync(users);
        foreach (var store in stores[1..])
        {
            var loaded = await store.LoadAsync(users);
            Assert.Equal(reference.Count, loaded.Count);
            for (int i = 0; i < reference.Count; i++)
            {
                Assert.Equal((reference[i].UserId, reference[i].Profile, reference[i].Interactions), (loaded[i].UserId, loaded[i].Profile, loaded[i].Interactions));
                Assert.Equal(reference[i].Recent, loaded[i].Recent);
            }
        }
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("pipelined")]
    public async Task Apply_SetsTheTtlAgainOnlyOnceItsRefreshIntervalHasPassed(string store)
    {
        // TTL 640 s: refreshed at most every 10 s (a 64th). Redis's own countdown is simulated by shortening the TTL by
        // hand; the writer's clock is a fake one.
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(T0);
        var sessions = Store(store, out string user, ttlSeconds: 640, time: time);
        var db = redis.Require().GetDatabase();
        RedisKey key = $"{Prefix(user)}:{{{user}}}:m";
        await sessions.ApplyAsync([Event(user, "e1", item: 1)]);
        Assert.InRange((await db.KeyTimeToLiveAsync(key))!.Value.TotalSeconds, 630, 640);

        await db.KeyExpireAsync(key, TimeSpan.FromSeconds(300));
        time.Advance(TimeSpan.FromSeconds(9));
        await sessions.ApplyAsync([Event(user, "e2", item: 2)]);
        var kept = await db.KeyTimeToLiveAsync(key);

        time.Advance(TimeSpan.FromSeconds(1));
        await sessions.ApplyAsync([Event(user, "e3", item: 3), Event(user, "e4", item: 4)]);
        var refreshed = await db.KeyTimeToLiveAsync(key);

        Assert.InRange(kept!.Value.TotalSeconds, 290, 300);   // 9 s after the last refresh: not set again
        Assert.InRange(refreshed!.Value.TotalSeconds, 630, 640);   // 10 s after it: set again
        Assert.Equal(4, Assert.Single(await sessions.LoadAsync([user])).Interactions);
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

    /// <summary>The script and the pipelined commands in turns, batch by batch, on the same sessions: they read each other's writes.</summary>
    private sealed class Alternating(ISessionStore first, ISessionStore second) : ISessionStore
    {
        private int calls;

        public Task<ApplyResult[]> ApplyAsync(IReadOnlyList<Interaction> interactions) => (calls++ % 2 == 0 ? first : second).ApplyAsync(interactions);

        public Task<IReadOnlyList<StoredSession>> LoadAsync(IReadOnlyList<string> userIds) => first.LoadAsync(userIds);

        public Task RecordServedAsync(IReadOnlyList<Shared.Online.ServedList> lists) => first.RecordServedAsync(lists);

        public Task<IReadOnlyList<Shared.Online.ArmTally>> ReadTalliesAsync() => first.ReadTalliesAsync();
    }

    /// <summary>The Redis store (script or pipelined commands, against the private redis-server) or the in-memory one: the same behaviour is required of all.</summary>
    private ISessionStore Store(string kind, out string user, int threshold = 5, int every = 5, int maxHistory = 100, int ttlSeconds = 3600, int window = 1024, TimeProvider? time = null)
    {
        user = "u" + Guid.NewGuid().ToString("N")[..12];
        var options = new SessionStoreOptions { AdaptThreshold = threshold, AdaptEvery = every, MaxHistory = maxHistory, TtlSeconds = ttlSeconds, DedupWindow = window };
        return kind switch
        {
            "memory" => new InMemorySessionStore(options, time ?? TimeProvider.System),
            "pipelined" => new RedisPipelinedSessionStore(redis.Require(), options, Prefix(user), time),
            _ => new RedisSessionStore(redis.Require(), options, Prefix(user), time),
        };
    }

    private static string Prefix(string user) => "t" + user[1..5];

    private static Interaction Event(string user, string id, int item) =>
        new(id, user, item, 1 + (item % 5), T0.AddMinutes(item), null);
}

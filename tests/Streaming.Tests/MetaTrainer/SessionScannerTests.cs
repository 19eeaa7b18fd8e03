using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.MetaTrainer;

/// <summary>Sampling sessions from a real redis-server (unique key prefix per test, so tests run in parallel).</summary>
[Trait("Kind", "Integration")]
public sealed class SessionScannerTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Sample_UsersBelowTheMinimum_AreLeftOut()
    {
        string prefix = TrainerFixtures.NewPrefix();
        await Write(prefix, "short", interactions: 12, newest: Now);
        await Write(prefix, "enough", interactions: 13, newest: Now);

        var sample = await Scanner(prefix).SampleAsync(new SessionSampleOptions { MinInteractions = 13 }, TestContext.Current.CancellationToken);

        Assert.Equal(2, sample.Scanned);
        Assert.Equal(1, sample.Eligible);
        Assert.Equal("enough", Assert.Single(sample.Sessions).UserId);
    }

    [Fact]
    public async Task Sample_UsersWhoseNewestInteractionIsBeforeTheWindow_AreLeftOut()
    {
        string prefix = TrainerFixtures.NewPrefix();
        await Write(prefix, "old", interactions: 20, newest: Now.AddDays(-31));
        await Write(prefix, "recent", interactions: 20, newest: Now.AddDays(-29));

        var sample = await Scanner(prefix).SampleAsync(new SessionSampleOptions { NewestSince = Now.AddDays(-30) }, TestContext.Current.CancellationToken);

        Assert.Equal("recent", Assert.Single(sample.Sessions).UserId);
    }

    [Fact]
    public async Task Sample_InteractionsWithItemsOutsideTheCatalogue_DoNotCount()
    {
        string prefix = TrainerFixtures.NewPrefix();
        await Write(prefix, "u1", interactions: 20, newest: Now, item: i => i % 2 == 0 ? i : 10_000 + i);

        var none = await Scanner(prefix).SampleAsync(new SessionSampleOptions { MinInteractions = 13, KeepItem = id => id < 10_000 }, TestContext.Current.CancellationToken);
        var kept = await Scanner(prefix).SampleAsync(new SessionSampleOptions { MinInteractions = 10, KeepItem = id => id < 10_000 }, TestContext.Current.CancellationToken);

        Assert.Empty(none.Sessions);
        var session = Assert.Single(kept.Sessions);
        Assert.Equal(10, session.Recent.Count);
        Assert.All(session.Recent, r => Assert.True(r.ItemId < 10_000));
    }

    [Fact]
    public async Task Sample_MoreEligibleUsersThanMaxSessions_KeepsAUniformSampleOfExactlyMaxSessions()
    {
        string prefix = TrainerFixtures.NewPrefix();
        for (int u = 0; u < 60; u++)
        {
            await Write(prefix, $"u{u}", interactions: 13, newest: Now);
        }

        var samples = new List<SessionSample>();
        for (int seed = 1; seed <= 30; seed++)
        {
            samples.Add(await Scanner(prefix).SampleAsync(new SessionSampleOptions { MaxSessions = 10, Seed = seed, PageSize = 7 }, TestContext.Current.CancellationToken));
        }

        Assert.All(samples, s =>
        {
            Assert.Equal(60, s.Scanned);
            Assert.Equal(60, s.Eligible);
            Assert.Equal(10, s.Sessions.Count);
            Assert.Equal(10, s.Sessions.Select(x => x.UserId).Distinct().Count());
        });

        // 300 draws of 60 users: a reservoir that kept only the first or last page would leave many users out.
        var chosen = samples.SelectMany(s => s.Sessions.Select(x => x.UserId)).ToHashSet();
        Assert.True(chosen.Count >= 50, $"only {chosen.Count} of 60 users were ever sampled");
        Assert.NotEqual(samples[0].Sessions.Select(s => s.UserId).Order(), samples[1].Sessions.Select(s => s.UserId).Order());
    }

    [Fact]
    public async Task Sample_OtherPrefixes_AreNotRead()
    {
        string prefix = TrainerFixtures.NewPrefix(), other = TrainerFixtures.NewPrefix();
        await Write(prefix, "mine", interactions: 13, newest: Now);
        await Write(other, "theirs", interactions: 13, newest: Now);

        var sample = await Scanner(prefix).SampleAsync(new SessionSampleOptions(), TestContext.Current.CancellationToken);

        Assert.Equal("mine", Assert.Single(sample.Sessions).UserId);
    }

    [Fact]
    public void Build_Session_IsChronologicalWithTheLastTenAsQueryAndEachItemOnce()
    {
        // Newest first, as stored: item 1 was rated first (and again, last, with 5); items 2..14 in between.
        var recent = new List<StoredInteraction> { new(1, 5, 100) };
        recent.AddRange(Enumerable.Range(2, 13).Reverse().Select(i => new StoredInteraction(i, i % 5 + 1, i)));
        recent.Add(new StoredInteraction(1, 2, 1));
        var session = new StoredSession("alice", new UserProfile("F", "25", "4", "48067"), recent.Count, recent);

        var set = SessionTasks.Build([session, session with { UserId = "bob", Recent = recent.Take(10).ToList() }]);

        var task = Assert.Single(set.Tasks);   // bob has only 10 interactions: no support set
        Assert.Equal("alice", set.UserIdOf(task));
        Assert.Equal("F", set.Profiles[task.UserId].Gender);
        Assert.Equal([2, 3, 4, 5], task.Support.Select(r => r.ItemId));
        Assert.Equal([6, 7, 8, 9, 10, 11, 12, 13, 14, 1], task.Query.Select(r => r.ItemId));
        Assert.Equal(5f, task.Query[^1].Value);   // item 1 counts once, with its re-rating, the user's latest
    }

    private SessionScanner Scanner(string prefix) => new(redis.Require(), new SessionStoreOptions(), prefix);

    private async Task Write(string prefix, string user, int interactions, DateTimeOffset newest, Func<int, int>? item = null)
    {
        var store = new RedisSessionStore(redis.Require(), new SessionStoreOptions(), prefix);
        await store.ApplyAsync([.. Enumerable.Range(1, interactions).Select(i =>
            new Interaction($"{user}-{i}", user, item?.Invoke(i) ?? i, 1 + (i % 5), newest.AddMinutes(i - interactions), null))]);
    }
}

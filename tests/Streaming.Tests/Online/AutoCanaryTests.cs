using Microsoft.Extensions.Time.Testing;
using Streaming.Shared.Contracts;
using Streaming.Shared.Online;
using Streaming.Shared.Registry;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;
using Streaming.Tests.Registry;

namespace Streaming.Tests.Online;

/// <summary>
/// The automated canary on a scripted stream: a directory registry with v1 active and v2 the canary for half the
/// users, each user served a list by the version the routing gives them, then ten interactions each through the
/// session store (Redis), hitting the list as often as their version's script says; the decisions run on a fake clock.
/// </summary>
[Trait("Kind", "Integration")]
public sealed class AutoCanaryTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IAsyncDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-auto-canary-").FullName;
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    public async ValueTask DisposeAsync()
    {
        await Task.Yield();
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task Step_CanaryClearlyBetterOnTheStream_PromotesItAndRecordsTheFigures()
    {
        var (registry, store, runs) = await SetUpAsync();
        await StreamAsync(store, registry, hitsOf: (version, u) => version == "v2" ? 6 : 2);

        var decision = await Auto(registry, store, runs).StepAsync(TestContext.Current.CancellationToken);

        Assert.Equal(CanaryAction.Promote, decision!.Action);
        Assert.True(decision.Lower > 0, decision.Reason);
        var routing = await registry.GetRoutingAsync(TestContext.Current.CancellationToken);
        Assert.Equal(("v2", (string?)null), (routing.Active, routing.Canary));
        var recorded = Assert.Single(await runs.RecentAsync(10, TestContext.Current.CancellationToken));
        Assert.Equal(TrainingRunOutcome.CanaryDecision, recorded.Outcome);
        Assert.Equal((CanaryAction.Promote, 0.6, 0.2), (recorded.Decision!.Action, Math.Round(recorded.Decision.CanaryHitRate, 9), Math.Round(recorded.Decision.ActiveHitRate, 9)));
        Assert.Equal(time.GetUtcNow(), recorded.Decision.DecidedAt);
    }

    [Fact]
    public async Task Step_CanaryClearlyWorseOnTheStream_RollsItBack()
    {
        var (registry, store, runs) = await SetUpAsync();
        await StreamAsync(store, registry, hitsOf: (version, u) => version == "v2" ? 1 : 5);

        var decision = await Auto(registry, store, runs).StepAsync(TestContext.Current.CancellationToken);

        Assert.Equal(CanaryAction.Rollback, decision!.Action);
        Assert.True(decision.Upper < 0, decision.Reason);
        var routing = await registry.GetRoutingAsync(TestContext.Current.CancellationToken);
        Assert.Equal(("v1", (string?)null, 0.0), (routing.Active, routing.Canary, routing.CanaryPercent));
        Assert.Equal(CanaryAction.Rollback, Assert.Single(await runs.RecentAsync(10, TestContext.Current.CancellationToken)).Decision!.Action);
    }

    [Fact]
    public async Task RunUntilDecided_TieOnTheStream_WaitsAtEveryLookOnAFakeClockAndChangesNothing()
    {
        var (registry, store, runs) = await SetUpAsync();
        // Every user's hit rate is 2..6 of 10 by a pattern of the user's index, the same for both versions.
        await StreamAsync(store, registry, hitsOf: (_, u) => 2 + (u % 5));
        var before = await registry.GetRoutingAsync(TestContext.Current.CancellationToken);
        var looks = new List<CanaryDecision>();

        var run = Auto(registry, store, runs).RunUntilDecidedAsync(Interval, TimeSpan.FromMinutes(2), d => { lock (looks) looks.Add(d); }, TestContext.Current.CancellationToken);
        for (int look = 1; look <= 4; look++)
        {
            await WaitUntilAsync(() => { lock (looks) return looks.Count >= look; });
            time.Advance(Interval);
        }

        var last = await run.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        Assert.Equal(5, looks.Count);   // at 0, 30, 60, 90 and 120 s: then the two minutes are up
        Assert.All(looks, d => Assert.Equal(CanaryAction.Wait, d.Action));
        Assert.True(last!.Lower < 0 && last.Upper > 0, last.Reason);
        Assert.Equal(before.Revision, (await registry.GetRoutingAsync(TestContext.Current.CancellationToken)).Revision);
        Assert.Equal(5, (await runs.RecentAsync(10, TestContext.Current.CancellationToken)).Count);
    }

    [Fact]
    public async Task Step_ClearlyBetterButFewerUsersThanTheMinimum_Waits()
    {
        var (registry, store, runs) = await SetUpAsync();
        await StreamAsync(store, registry, hitsOf: (version, u) => version == "v2" ? 9 : 1);

        var decision = await new AutoCanary(registry, store.ReadTalliesAsync, runs, new CanaryJudgeOptions { MinUsers = 1000 }, time).StepAsync(TestContext.Current.CancellationToken);

        Assert.Equal(CanaryAction.Wait, decision!.Action);
        Assert.Contains("1000 each are needed", decision.Reason, StringComparison.Ordinal);
        Assert.Equal("v1", (await registry.GetRoutingAsync(TestContext.Current.CancellationToken)).Active);
    }

    private AutoCanary Auto(IModelRegistry registry, ISessionStore store, ITrainingRunLog runs) =>
        new(registry, store.ReadTalliesAsync, runs, new CanaryJudgeOptions { MinUsers = 100 }, time);

    private async Task<(IModelRegistry Registry, ISessionStore Store, ITrainingRunLog Runs)> SetUpAsync()
    {
        var registry = await ModelRegistryFactory.OpenAsync(Path.Combine(directory, "registry"), create: true, time);
        await ScriptedCanaryStream.PublishAsync(registry);
        var store = new RedisSessionStore(redis.Require(), new SessionStoreOptions(), "c" + Guid.NewGuid().ToString("N")[..8]);
        return (registry, store, TrainingRunLog.For(registry));
    }

    private async Task StreamAsync(ISessionStore store, IModelRegistry registry, Func<string, int, int> hitsOf) =>
        await ScriptedCanaryStream.RunAsync(store, await registry.GetRoutingAsync(TestContext.Current.CancellationToken), time.GetUtcNow(), hitsOf);

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), "timed out waiting for the canary loop");
            await Task.Delay(10);
        }
    }
}

/// <summary>The stream of the canary tests: 400 users, each served a list of 10 items by the version the routing gives them, then 10 interactions each.</summary>
internal static class ScriptedCanaryStream
{
    /// <summary>v1 active, v2 the canary for half the users.</summary>
    public static async Task PublishAsync(IModelRegistry registry)
    {
        await registry.PushAndRollOutAsync(RegistryFixtures.ModelFile(1), new ModelPushOptions(), new RolloutPlan { Kind = RolloutKind.Promote }, cancellationToken: TestContext.Current.CancellationToken);
        await registry.PushAndRollOutAsync(RegistryFixtures.ModelFile(2), new ModelPushOptions(), new RolloutPlan { Kind = RolloutKind.Canary, CanaryPercent = 50 }, cancellationToken: TestContext.Current.CancellationToken);
    }

    /// <summary>Lists at <paramref name="servedAt"/>, then interactions a second apart after it; <paramref name="hitsOf"/> (version, user index) of each user's 10 are on the list.</summary>
    public static async Task RunAsync(ISessionStore store, ModelRouting routing, DateTimeOffset servedAt, Func<string, int, int> hitsOf)
    {
        var users = Enumerable.Range(0, 400).Select(u => $"user-{u}").ToList();
        await store.RecordServedAsync([.. users.Select(user => new ServedList(user, routing.VersionFor(user)!, routing.Canary, servedAt, [.. Enumerable.Range(1, 10).Select(i => new RecommendedItem(i, 4f, 4f))]))]);
        var events = users.SelectMany((user, u) => Enumerable.Range(0, 10).Select(i =>
            new Interaction($"{user}-{i}", user, i < hitsOf(routing.VersionFor(user)!, u) ? 1 + i : 100 + i, 4, servedAt.AddSeconds(1 + i), null)));
        await store.ApplyAsync([.. events]);
    }
}

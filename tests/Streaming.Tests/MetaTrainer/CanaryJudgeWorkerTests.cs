using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Streaming.MetaTrainer;
using Streaming.Shared.Online;
using Streaming.Shared.Registry;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;
using Streaming.Tests.Online;

namespace Streaming.Tests.MetaTrainer;

/// <summary>Policy auto in periodic mode, on a fake clock: the canary is judged on the live figures every interval, between training runs.</summary>
[Trait("Kind", "Integration")]
public sealed class CanaryJudgeWorkerTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-judge-worker-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task Worker_PolicyAutoAndAClearlyBetterCanary_PromotesItAtTheFirstLookAfterTheInterval()
    {
        var ct = TestContext.Current.CancellationToken;
        var (options, registry, cycle) = await SetUpAsync(canaryHits: 7, activeHits: 3);
        await using var _ = registry;
        using var worker = new CanaryJudgeWorker(cycle, Options.Create(options), time, NullLogger<CanaryJudgeWorker>.Instance);

        await worker.StartAsync(ct);
        await Task.Delay(200, ct);
        Assert.Equal("v1", (await registry.GetRoutingAsync(ct)).Active);   // no look before the first interval
        time.Advance(TimeSpan.FromSeconds(60));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while ((await registry.GetRoutingAsync(ct)).Active != "v2")
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), "the canary was not promoted");
            await Task.Delay(50, ct);
        }

        await worker.StopAsync(ct);
        var decision = Assert.Single(await TrainingRunLog.For(registry).RecentAsync(10, ct)).Decision!;
        Assert.Equal((CanaryAction.Promote, "v2", "v1"), (decision.Action, decision.Canary, decision.Active));
    }

    [Fact]
    public async Task Run_PolicyAutoAndAClearlyWorseCanary_RollsItBackBeforeTraining()
    {
        var ct = TestContext.Current.CancellationToken;
        var (_, registry, cycle) = await SetUpAsync(canaryHits: 1, activeHits: 6);
        await using var _ = registry;

        var run = await cycle.RunAsync(registry, TrainingRunLog.For(registry), ct);   // no sessions to train on: refused after the look

        Assert.Equal(TrainingRunOutcome.Refused, run.Outcome);
        Assert.Equal(("v1", (string?)null), ((await registry.GetRoutingAsync(ct)).Active, (await registry.GetRoutingAsync(ct)).Canary));
        // Both records carry the fake clock's one instant, so their order in the log is not defined: look them up by outcome.
        var records = await TrainingRunLog.For(registry).RecentAsync(10, ct);
        Assert.Equal([TrainingRunOutcome.CanaryDecision, TrainingRunOutcome.Refused], records.Select(r => r.Outcome).Order(StringComparer.Ordinal));
        Assert.Equal(CanaryAction.Rollback, records.Single(r => r.Outcome == TrainingRunOutcome.CanaryDecision).Decision!.Action);
    }

    /// <summary>A directory registry with v1 active and v2 the canary for half the users, the scripted stream, and a policy-auto cycle reading its figures.</summary>
    private async Task<(MetaTrainerOptions Options, IModelRegistry Registry, TrainingCycle Cycle)> SetUpAsync(int canaryHits, int activeHits)
    {
        var ct = TestContext.Current.CancellationToken;
        var options = TrainerFixtures.QuickOptions(Path.Combine(directory, "registry"));
        options.Policy = RolloutPolicy.Auto;
        options.AutoJudgeIntervalSeconds = 60;
        var registry = await ModelRegistryFactory.OpenAsync(options.Registry, create: true, time);
        await ScriptedCanaryStream.PublishAsync(registry);
        var store = new RedisSessionStore(redis.Require(), new SessionStoreOptions(), TrainerFixtures.NewPrefix());
        await ScriptedCanaryStream.RunAsync(store, await registry.GetRoutingAsync(ct), time.GetUtcNow(), (version, _) => version == "v2" ? canaryHits : activeHits);
        var sessions = new SessionScanner(redis.Require(), new SessionStoreOptions(), TrainerFixtures.NewPrefix());
        return (options, registry, new TrainingCycle(options, sessions, "test", time, NullLogger<TrainingCycle>.Instance, store.ReadTalliesAsync));
    }
}

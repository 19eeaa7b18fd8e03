using Streaming.MetaTrainer;
using Streaming.Learning.Models;
using Streaming.Shared.Registry;
using Streaming.Tests.Infrastructure;
using static TorchSharp.torch;

namespace Streaming.Tests.MetaTrainer;

/// <summary>Whole trainer runs against a real redis-server session store and a directory registry.</summary>
[Collection(TorchCollection.Name)]
[Trait("Kind", "Integration")]
public sealed class TrainingCycleTests(RedisServerFixture redis, ParentModelFixture parent)
    : IClassFixture<RedisServerFixture>, IClassFixture<ParentModelFixture>, IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-metatrainer-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public async Task Run_OnALiveSessionStore_PublishesALoadableCanaryWhoseParentIsTheActiveVersion()
    {
        var ct = TestContext.Current.CancellationToken;
        string prefix = TrainerFixtures.NewPrefix();
        await TrainerFixtures.WriteSessionsAsync(redis.Require(), prefix, users: 400, newest: TimeProvider.System.GetUtcNow());
        await using var registry = await parent.RegistryWithActiveParentAsync(Path.Combine(directory, "registry"));
        var runs = TrainingRunLog.For(registry);

        var run = await TrainerFixtures.Cycle(redis.Require(), prefix, TrainerFixtures.QuickOptions(registry.Description)).RunAsync(registry, runs, ct);

        Assert.True(run.Outcome == TrainingRunOutcome.Published, TrainingCycle.Summary(run));
        Assert.Equal("v2", run.Version);
        var published = await registry.FindAsync("v2", ct);
        Assert.NotNull(published);
        Assert.Equal("v1", published.ParentVersion);
        Assert.Equal(run.Candidate!.Mae, published.Metric("evaluation.mae"));
        Assert.Equal(run.Parent!.Mae, published.Metric("parent.evaluation.mae"));
        Assert.Equal(run.EvaluationUsers, published.Metric("evaluation.users"));
        Assert.Equal(run.TrainingUsers, published.Metric("training.users"));
        Assert.Contains("30 days", published.Notes, StringComparison.Ordinal);
        Assert.InRange(run.EvaluationUsers, 20, 120);
        Assert.InRange(run.TrainingUsers, 200, 360);

        using var loaded = MetaModel.Load(await registry.DownloadAsync("v2", ct), "registry v2", CPU);
        using var parentModel = MetaModel.Load(parent.File, "parent", CPU);
        Assert.Equal(parentModel.Features.ToJson(), loaded.Features.ToJson());
        Assert.Equal(run.TrainingUsers, loaded.Manifest.Training.TrainUsers);

        var routing = await registry.GetRoutingAsync(ct);
        Assert.Equal(("v1", "v2", 10.0), (routing.Active, routing.Canary, routing.CanaryPercent));
        var recorded = Assert.Single(await runs.RecentAsync(10, ct));
        Assert.Equal(run.RunId, recorded.RunId);
        Assert.Equal(TrainingRunOutcome.Published, recorded.Outcome);
        Assert.Equal("v1", recorded.ParentVersion);
    }

    [Fact]
    public async Task Run_RegressingCandidate_IsRefusedNothingIsPublishedAndTheReasonIsRecorded()
    {
        // Adam at 0.1 on a trained model: one epoch leaves a finite but clearly worse candidate (measured:
        // held-out MAE +0.02 or about even, nDCG@3 -0.08 against the parent, depending on the run).
        var (run, registry, runs) = await RunWithWarmStartRate(0.1);
        await using var _ = registry;

        Assert.True(run.Outcome == TrainingRunOutcome.Refused, TrainingCycle.Summary(run));
        Assert.Contains("regression", run.Reason, StringComparison.Ordinal);
        Assert.True(double.IsFinite(run.Candidate!.Mae), TrainingCycle.Summary(run));
        Assert.True(run.Candidate.Mae > run.Parent!.Mae + 0.005 || run.Candidate.Ndcg3 < run.Parent.Ndcg3 - 0.005, TrainingCycle.Summary(run));
        await AssertNothingPublishedAndRecorded(run, registry, runs);
    }

    [Fact]
    public async Task Run_DivergingCandidateWithNaNWeights_IsRefusedNothingIsPublishedAndTheReasonIsRecorded()
    {
        var (run, registry, runs) = await RunWithWarmStartRate(1.0);
        await using var _ = registry;

        Assert.True(run.Outcome == TrainingRunOutcome.Refused, TrainingCycle.Summary(run));
        Assert.Contains("NaN", run.Reason, StringComparison.Ordinal);
        Assert.Contains("diverged", run.Reason, StringComparison.Ordinal);
        await AssertNothingPublishedAndRecorded(run, registry, runs);
    }

    [Fact]
    public async Task Run_RegistryWithoutAnActiveVersion_TrainsFromScratchAndPromotesTheFirstVersion()
    {
        var ct = TestContext.Current.CancellationToken;
        string prefix = TrainerFixtures.NewPrefix();
        await TrainerFixtures.WriteSessionsAsync(redis.Require(), prefix, users: 300, newest: TimeProvider.System.GetUtcNow());
        var options = TrainerFixtures.QuickOptions(Path.Combine(directory, "empty-registry"));
        options.Epochs = 1;

        // Through the configured registry string: the run opens (creates) it and records itself there.
        var run = await TrainerFixtures.Cycle(redis.Require(), prefix, options).RunAsync(ct);

        Assert.True(run.Outcome == TrainingRunOutcome.Published, TrainingCycle.Summary(run));
        Assert.Null(run.ParentVersion);
        Assert.Null(run.Parent);
        await using var registry = new FileSystemModelRegistry(options.Registry);
        Assert.Equal("v1", (await registry.GetRoutingAsync(ct)).Active);
        Assert.Null((await registry.FindAsync("v1", ct))!.ParentVersion);
        using var loaded = MetaModel.Load(await registry.DownloadAsync("v1", ct), "registry v1", CPU);
        Assert.Equal(TrainingRunOutcome.Published, Assert.Single(await TrainingRunLog.For(registry).RecentAsync(5, ct)).Outcome);
    }

    [Fact]
    public async Task Run_FewerHeldOutUsersThanTheMinimum_IsRefusedBeforeTraining()
    {
        var ct = TestContext.Current.CancellationToken;
        string prefix = TrainerFixtures.NewPrefix();
        await TrainerFixtures.WriteSessionsAsync(redis.Require(), prefix, users: 40, newest: TimeProvider.System.GetUtcNow());
        await using var registry = await parent.RegistryWithActiveParentAsync(Path.Combine(directory, "registry"));
        var options = TrainerFixtures.QuickOptions(registry.Description);
        options.MinEvaluationUsers = 100;

        var run = await TrainerFixtures.Cycle(redis.Require(), prefix, options).RunAsync(registry, TrainingRunLog.For(registry), ct);

        Assert.Equal(TrainingRunOutcome.Refused, run.Outcome);
        Assert.Contains("MinEvaluationUsers 100", run.Reason, StringComparison.Ordinal);
        Assert.Equal(0, run.Epochs);
        Assert.Null(run.Candidate);
        Assert.Single(await registry.ListAsync(ct));
    }

    private async Task<(TrainingRun Run, FileSystemModelRegistry Registry, ITrainingRunLog Runs)> RunWithWarmStartRate(double rate)
    {
        string prefix = TrainerFixtures.NewPrefix();
        await TrainerFixtures.WriteSessionsAsync(redis.Require(), prefix, users: 400, newest: TimeProvider.System.GetUtcNow());
        var registry = await parent.RegistryWithActiveParentAsync(Path.Combine(directory, "registry"));
        var runs = TrainingRunLog.For(registry);
        var options = TrainerFixtures.QuickOptions(registry.Description);
        options.WarmStartLearningRate = rate;
        options.Epochs = 1;
        var run = await TrainerFixtures.Cycle(redis.Require(), prefix, options).RunAsync(registry, runs, TestContext.Current.CancellationToken);
        return (run, registry, runs);
    }

    private static async Task AssertNothingPublishedAndRecorded(TrainingRun run, FileSystemModelRegistry registry, ITrainingRunLog runs)
    {
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal(["v1"], (await registry.ListAsync(ct)).Select(m => m.Version));
        var routing = await registry.GetRoutingAsync(ct);
        Assert.Equal(("v1", (string?)null), (routing.Active, routing.Canary));
        var recorded = Assert.Single(await runs.RecentAsync(10, ct));
        Assert.Equal(TrainingRunOutcome.Refused, recorded.Outcome);
        Assert.Equal(run.Reason, recorded.Reason);
        Assert.Equal("v1", recorded.ParentVersion);
        Assert.NotNull(recorded.Parent);
        Assert.Equal(3, TrainingCycle.ExitCode(recorded));
    }
}

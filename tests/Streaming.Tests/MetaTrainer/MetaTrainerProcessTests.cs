using Streaming.Learning.Models;
using Streaming.Shared.Registry;
using Streaming.Tests.Infrastructure;
using static TorchSharp.torch;

namespace Streaming.Tests.MetaTrainer;

/// <summary>The MetaTrainer as its own process (<c>--once</c>, as a CronJob runs it), against a private redis-server.</summary>
[Collection(TorchCollection.Name)]
[Trait("Kind", "EndToEnd")]
public sealed class MetaTrainerProcessTests(RedisServerFixture redis, ParentModelFixture parent)
    : IClassFixture<RedisServerFixture>, IClassFixture<ParentModelFixture>, IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-metatrainer-process-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public async Task Once_WithAnActiveVersionAndEnoughSessions_PublishesAVersionAndExitsZero()
    {
        var ct = TestContext.Current.CancellationToken;
        string prefix = TrainerFixtures.NewPrefix();
        await TrainerFixtures.WriteSessionsAsync(redis.Require(), prefix, users: 400, newest: TimeProvider.System.GetUtcNow());
        string path = Path.Combine(directory, "registry");
        await (await parent.RegistryWithActiveParentAsync(path)).DisposeAsync();
        var environment = Environment(prefix, path);
        environment["MetaTrainer__Policy"] = "promote";

        using var trainer = ServiceProcess.Start("Streaming.MetaTrainer", environment, "--once");

        Assert.True(trainer.WaitForExit(Timeout), "the trainer did not finish: " + trainer.Output);
        Assert.True(trainer.ExitCode == 0, $"exit code {trainer.ExitCode}: {trainer.Output}");
        Assert.Contains("published v2 (parent v1, rollout active)", trainer.Output, StringComparison.Ordinal);
        await using var registry = new FileSystemModelRegistry(path);
        Assert.Equal("v2", (await registry.GetRoutingAsync(ct)).Active);
        Assert.Equal("v1", (await registry.FindAsync("v2", ct))!.ParentVersion);
        using var loaded = MetaModel.Load(await registry.DownloadAsync("v2", ct), "registry v2", CPU);
    }

    [Fact]
    public async Task Once_TooFewHeldOutUsers_ExitsThreeWithTheReason()
    {
        string prefix = TrainerFixtures.NewPrefix();
        await TrainerFixtures.WriteSessionsAsync(redis.Require(), prefix, users: 30, newest: TimeProvider.System.GetUtcNow());
        string path = Path.Combine(directory, "registry");
        await (await parent.RegistryWithActiveParentAsync(path)).DisposeAsync();
        var environment = Environment(prefix, path);
        environment["MetaTrainer__MinEvaluationUsers"] = "100";

        using var trainer = ServiceProcess.Start("Streaming.MetaTrainer", environment, "--once");

        Assert.True(trainer.WaitForExit(Timeout), "the trainer did not finish: " + trainer.Output);
        Assert.True(trainer.ExitCode == 3, $"exit code {trainer.ExitCode}: {trainer.Output}");
        Assert.Contains("refused (parent v1): too few held-out evaluation users", trainer.Output, StringComparison.Ordinal);
        var recorded = Assert.Single(await TrainingRunLog.For(new FileSystemModelRegistry(path)).RecentAsync(5, TestContext.Current.CancellationToken));
        Assert.Equal(TrainingRunOutcome.Refused, recorded.Outcome);
    }

    [Fact]
    public void Once_RedisUnreachable_ExitsOneWithTheReason()
    {
        var environment = Environment(TrainerFixtures.NewPrefix(), Path.Combine(directory, "registry"));
        environment["Redis__Configuration"] = "127.0.0.1:1,connectTimeout=500";

        using var trainer = ServiceProcess.Start("Streaming.MetaTrainer", environment, "--once");

        Assert.True(trainer.WaitForExit(Timeout), "the trainer did not finish: " + trainer.Output);
        Assert.True(trainer.ExitCode == 1, $"exit code {trainer.ExitCode}: {trainer.Output}");
        Assert.Contains("failed (parent none)", trainer.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--once", "MetaTrainer__Registry", "", "MetaTrainer:Registry")]
    [InlineData("--once", "MetaTrainer__Policy", "sometimes", "MetaTrainer:Policy")]
    [InlineData("", "MetaTrainer__MinInteractions", "5", "MetaTrainer:MinInteractions")]
    [InlineData("", "MetaTrainer__Catalogue", "", "MetaTrainer:Catalogue")]
    public void Start_InvalidConfiguration_FailsNamingTheKey(string mode, string key, string value, string named)
    {
        var environment = Environment(TrainerFixtures.NewPrefix(), Path.Combine(directory, "registry"));
        environment[key] = value;

        using var trainer = ServiceProcess.Start("Streaming.MetaTrainer", environment, mode.Length > 0 ? [mode] : []);

        Assert.True(trainer.WaitForExit(TimeSpan.FromSeconds(30)), "the trainer kept running with invalid configuration: " + trainer.Output);
        Assert.NotEqual(0, trainer.ExitCode);
        Assert.Contains(named, trainer.Output, StringComparison.Ordinal);
        if (mode == "--once")
        {
            Assert.Equal(1, trainer.ExitCode);
        }
    }

    private Dictionary<string, string> Environment(string prefix, string registry) => new()
    {
        ["MetaTrainer__Registry"] = registry,
        ["MetaTrainer__Catalogue"] = "synthetic",
        ["MetaTrainer__MinEvaluationUsers"] = "20",
        ["MetaTrainer__Epochs"] = "1",
        ["MetaTrainer__Device"] = "cpu",
        ["Redis__Configuration"] = $"127.0.0.1:{redis.Port}",
        ["Redis__KeyPrefix"] = prefix,
        ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
        ["Logging__LogLevel__Default"] = "Warning",
    };
}

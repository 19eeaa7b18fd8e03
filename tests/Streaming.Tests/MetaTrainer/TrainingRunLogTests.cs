using Streaming.Shared.Registry;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.MetaTrainer;

/// <summary>The run log next to both registry stores.</summary>
[Trait("Kind", "Integration")]
public sealed class TrainingRunLogTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-runs-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Theory]
    [InlineData("redis")]
    [InlineData("directory")]
    public async Task Append_ManyRuns_KeepsTheNewestFirstUpToTheLimit(string store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using IModelRegistry registry = store == "redis"
            ? new RedisModelRegistry(redis.Require(), TrainerFixtures.NewPrefix())
            : new FileSystemModelRegistry(directory);
        var log = TrainingRunLog.For(registry);

        for (int i = 0; i < TrainingRunLog.MaxRuns + 5; i++)
        {
            await log.AppendAsync(new TrainingRun { RunId = TrainingRunLog.NewRunId(T0.AddMinutes(i)), Outcome = i % 2 == 0 ? TrainingRunOutcome.Refused : TrainingRunOutcome.Published, Reason = $"run {i}" }, ct);
        }

        var recent = await log.RecentAsync(3, ct);
        Assert.Equal(["run 204", "run 203", "run 202"], recent.Select(r => r.Reason));
        Assert.Equal(TrainingRunLog.MaxRuns, (await log.RecentAsync(1000, ct)).Count);
    }
}

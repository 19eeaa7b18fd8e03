using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Streaming.MetaTrainer;
using Streaming.Shared.Registry;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.MetaTrainer;

/// <summary>Periodic mode on a fake clock: runs that end before training (no sessions), so no TorchSharp is needed.</summary>
[Trait("Kind", "Integration")]
public sealed class MetaTrainerWorkerTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-metatrainer-worker-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public async Task Worker_RunsAtStartAndThenOncePerInterval()
    {
        var ct = TestContext.Current.CancellationToken;
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        var options = TrainerFixtures.QuickOptions(Path.Combine(directory, "registry"));
        options.IntervalMinutes = 60;
        var health = new TrainerHealth();
        using var worker = new MetaTrainerWorker(TrainerFixtures.Cycle(redis.Require(), TrainerFixtures.NewPrefix(), options, time), Options.Create(options), health, time);

        await worker.StartAsync(ct);
        await WaitForRuns(1);
        time.Advance(TimeSpan.FromMinutes(59));
        await Task.Delay(300, ct);
        Assert.Equal(1, await Runs());
        time.Advance(TimeSpan.FromMinutes(1));
        await WaitForRuns(2);
        await worker.StopAsync(ct);

        var report = await health.CheckHealthAsync(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext(), ct);
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, report.Status);   // refused (no sessions) is not unhealthy

        async Task<int> Runs() => (await TrainingRunLog.For(new FileSystemModelRegistry(options.Registry)).RecentAsync(10, ct)).Count;

        async Task WaitForRuns(int count)
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            while (await Runs() < count)
            {
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"{await Runs()} runs, expected {count}");
                await Task.Delay(50, ct);
            }
        }
    }
}

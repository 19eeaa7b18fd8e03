using System.Diagnostics;
using Streaming.Shared.Contracts;
using Streaming.Shared.Registry;
using Streaming.Shared.Sessions;
using Streaming.Tests.Data;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.MetaTrainer;

/// <summary>
/// The MetaTrainer goal on MovieLens-1M, measured by hand (explicit: minutes of both cores). Prepare a registry
/// whose active version is a full <c>streaming train</c> model, then:
/// <code>
/// ./streaming train --data ../shared/datasets/ml-1m --out .streaming/ml1m/parent.model
/// ./streaming models push .streaming/ml1m/parent.model --registry .streaming/ml1m/registry --promote
/// STREAMING_TRAINER_REGISTRY=$PWD/.streaming/ml1m/registry ./streaming test -method '*MovieLensSessions*' -explicit only
/// </code>
/// It writes the first 5,000 users with at least 13 ratings (this copy has 4,832 users, all eligible) through
/// <see cref="RedisSessionStore"/> into a private redis-server, each user's ratings in file order (this copy has no
/// timestamps) one second apart and ending now, runs one <c>--once</c> cycle as a process with the default
/// settings, and records the run in the registry's <c>runs/</c> folder.
/// </summary>
[Collection(TorchCollection.Name)]
[Trait("Kind", "Integration")]
public sealed class MovieLensTrainerMeasurement(RedisServerFixture redis, MovieLensFixture movieLens)
    : IClassFixture<RedisServerFixture>, IClassFixture<MovieLensFixture>
{
    [Fact(Explicit = true)]
    public async Task Once_OnMovieLensSessions_FinishesWithinTenMinutesAndBeatsItsParent()
    {
        var ct = TestContext.Current.CancellationToken;
        string registry = Environment.GetEnvironmentVariable("STREAMING_TRAINER_REGISTRY") ?? "";
        if (!Directory.Exists(registry))
        {
            Assert.Skip("set STREAMING_TRAINER_REGISTRY to a registry directory whose active version is a streaming train model");
        }

        var data = movieLens.Require();
        var connection = redis.Require();
        const string Prefix = "ml1m";
        var store = new RedisSessionStore(connection, new SessionStoreOptions(), Prefix);
        var users = data.Ratings.GroupBy(r => r.UserId).Where(g => g.Count() >= 13).OrderBy(g => g.Key).Take(5000).ToList();
        var now = TimeProvider.System.GetUtcNow();
        var write = Stopwatch.StartNew();
        var batch = new List<Interaction>();
        foreach (var user in users)
        {
            var ratings = user.ToArray();
            var p = data.Users.GetValueOrDefault(user.Key);
            for (int i = 0; i < ratings.Length; i++)
            {
                batch.Add(new Interaction($"ml1m:{user.Key}:{i}", user.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), ratings[i].ItemId, ratings[i].Value,
                    now.AddSeconds(i - ratings.Length), i == 0 && p is not null ? new ProfileFields { Gender = p.Gender, Age = p.Age, Occupation = p.Occupation, Zip = p.Zip } : null));
            }

            if (batch.Count >= 20_000)
            {
                await store.ApplyAsync(batch);
                batch.Clear();
            }
        }

        await store.ApplyAsync(batch);
        write.Stop();

        var environment = new Dictionary<string, string>
        {
            ["MetaTrainer__Registry"] = registry,
            ["MetaTrainer__Catalogue"] = movieLens.Directory!,
            ["MetaTrainer__Device"] = "cpu",
            ["Redis__Configuration"] = $"127.0.0.1:{redis.Port}",
            ["Redis__KeyPrefix"] = Prefix,
        };
        var run = Stopwatch.StartNew();
        using var trainer = ServiceProcess.Start("Streaming.MetaTrainer", environment, "--once");
        Assert.True(trainer.WaitForExit(TimeSpan.FromMinutes(15)), "the run did not end within 15 minutes: " + trainer.Output);
        run.Stop();

        var recorded = (await TrainingRunLog.For(new FileSystemModelRegistry(registry)).RecentAsync(1, ct))[0];
        string report = $"{users.Count} users ({users.Sum(u => u.Count())} ratings) written in {write.Elapsed.TotalSeconds:F1} s; "
            + $"--once exit code {trainer.ExitCode} after {run.Elapsed.TotalSeconds:F1} s wall clock; run record: {System.Text.Json.JsonSerializer.Serialize(recorded, RegistryJson.Options)}";
        await File.WriteAllTextAsync(Path.Combine(registry, "measurement.txt"), report + Environment.NewLine + trainer.Output, ct);
        TestContext.Current.SendDiagnosticMessage(report);
        Assert.True(trainer.ExitCode == 0, report + "\n" + trainer.Output);
        Assert.True(run.Elapsed < TimeSpan.FromMinutes(10), report);
        Assert.True(recorded.Candidate!.Mae < recorded.Parent!.Mae, report);
    }
}

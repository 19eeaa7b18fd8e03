using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Confluent.Kafka;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Shared.Registry;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;
using Streaming.Tests.Learning;

namespace Streaming.Tests.Pipeline;

/// <summary>A small trained meta-model, saved once for the tests that run the Adapter as a process.</summary>
public sealed class ServedModelFixture : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-model-").FullName;

    public ServedModelFixture()
    {
        using var model = LearningFixtures.Train(LearningFixtures.Synthetic(users: 200), LearningFixtures.QuickTraining(epochs: 1)).Model;
        Path = System.IO.Path.Combine(directory, "a.model");
        model.Save(Path);
        OtherPath = System.IO.Path.Combine(directory, "b.model");
        model.WithManifest(m => m with { CreatedAt = model.Manifest.CreatedAt.AddDays(1) }).Save(OtherPath);
    }

    /// <summary>A model file.</summary>
    public string Path { get; }

    /// <summary>The same weights with another manifest: a different file, so a different version.</summary>
    public string OtherPath { get; }

    /// <summary>The version the Adapter serves a model file as (the first 12 hex digits of its SHA-256).</summary>
    public static string VersionOf(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)))[..12];

    public void Dispose() => Directory.Delete(directory, recursive: true);
}

/// <summary>Ingest and Adapter as separate processes, against the Kafka mock cluster and a private redis-server.</summary>
[Collection(TorchCollection.Name)]
[Trait("Kind", "EndToEnd")]
public sealed class PipelineProcessTests(RedisServerFixture redis, KafkaMockClusterFixture kafka, ServedModelFixture model)
    : IClassFixture<RedisServerFixture>, IClassFixture<KafkaMockClusterFixture>, IClassFixture<ServedModelFixture>
{
    private static readonly DateTimeOffset Start = DateTimeOffset.UnixEpoch.AddDays(20_000);

    [Fact]
    public async Task BothServicesKilledMidStreamAndRestarted_AnswerEveryThresholdCrossingAndApplyEveryEventOnce()
    {
        var connection = redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        var environment = Environment(run);
        var items = SyntheticDataset.Generate(new SyntheticOptions()).Items.Keys.Order().ToArray();
        const int Users = 60, PerUser = 12;   // due at 5 and at 10 (threshold 5, then every 5)
        var events = Enumerable.Range(0, Users * PerUser)
            .Select(i => new InteractionEvent
            {
                EventId = $"{run}-{i}",
                UserId = $"user-{i % Users}",
                ItemId = items[(i * 7) % items.Length],
                Rating = 1 + (i % 5),
                EventTime = Start.AddSeconds(i),
            })
            .ToArray();
        string recommendationsTopic = environment["Kafka__RecommendationsTopic"];

        using var producer = kafka.Producer();
        PipelineEnvironment.Produce(producer, environment["Kafka__InteractionsTopic"], events[..(events.Length / 2)]);
        using (var ingest = ServiceProcess.Start("Streaming.Ingest", environment))
        using (var adapter = ServiceProcess.Start("Streaming.Adapter", environment))
        {
            // Mid-stream: wait for the first adapted recommendations, then kill -9 both services.
            var first = Recommendations(recommendationsTopic, read => read.Any(r => r.Basis == RecommendationMessage.Adapted));
            Assert.True(first.Any(r => r.Basis == RecommendationMessage.Adapted), "no recommendation before the kill; output: " + ingest.Output + adapter.Output);
            ingest.KillHard();
            adapter.KillHard();
        }

        PipelineEnvironment.Produce(producer, environment["Kafka__InteractionsTopic"], events[(events.Length / 2)..]);
        using var ingestAgain = ServiceProcess.Start("Streaming.Ingest", environment);
        using var adapterAgain = ServiceProcess.Start("Streaming.Adapter", environment);
        static bool EveryUserAnsweredAt10(List<RecommendationMessage> read) =>
            read.Where(r => r.Basis == RecommendationMessage.Adapted && r.Interactions >= 10).Select(r => r.UserId).Distinct().Count() == Users;
        var answered = Recommendations(recommendationsTopic, EveryUserAnsweredAt10);
        Assert.True(EveryUserAnsweredAt10(answered), "not every user was answered; output: " + ingestAgain.Output + adapterAgain.Output);

        // Every user crossed 5 and 10: each crossing is answered by an adapted recommendation made on at least
        // that many interactions (a burst may coalesce both into one); no event was applied twice.
        var sessions = await new RedisSessionStore(connection, new SessionStoreOptions(), "t" + run).LoadAsync([.. Enumerable.Range(0, Users).Select(u => $"user-{u}")]);
        Assert.Equal(Users, sessions.Count);
        Assert.All(sessions, s => Assert.Equal(PerUser, s.Interactions));
        Assert.All(answered.Where(r => r.Basis == RecommendationMessage.Adapted), r =>
        {
            Assert.Equal(ServedModelFixture.VersionOf(model.Path), r.ModelVersion);
            Assert.InRange(r.Interactions, 5, PerUser);
            Assert.Equal(20, r.Items.Count);
        });
        Assert.Contains(answered, r => r.Basis == RecommendationMessage.Onboarding);
    }

    [Fact]
    public async Task Adapter_ModelFileReplacedWhileRunning_RefusesACorruptFileAndThenServesTheNewVersionWithoutRestart()
    {
        var connection = redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        var environment = Environment(run);
        string served = Path.Combine(Path.GetDirectoryName(model.Path)!, $"served-{run}.model");
        File.Copy(model.Path, served);
        environment["Adapter__Model"] = served;
        var users = new UserSource(connection, kafka, environment, run);
        Task<string> VersionServedForNextUser() => users.VersionServedForNextUser();

        using var adapter = ServiceProcess.Start("Streaming.Adapter", environment);
        Assert.Equal(ServedModelFixture.VersionOf(model.Path), await VersionServedForNextUser());

        // A corrupt file (one flipped byte in the weights) replaces the model: refused, the old one keeps serving.
        var corrupt = File.ReadAllBytes(model.OtherPath);
        corrupt[^10] ^= 0x40;
        ReplaceAtomically(served, corrupt);
        await PipelineEnvironment.WaitUntil(() => Task.FromResult(adapter.Output.Contains("refused", StringComparison.OrdinalIgnoreCase)), adapter);
        Assert.Equal(ServedModelFixture.VersionOf(model.Path), await VersionServedForNextUser());

        // A good new model: served from the next batch, without a restart.
        ReplaceAtomically(served, File.ReadAllBytes(model.OtherPath));
        string expected = ServedModelFixture.VersionOf(model.OtherPath);
        string version = "";
        await PipelineEnvironment.WaitUntil(async () => (version = await VersionServedForNextUser()) == expected, adapter);
        Assert.False(adapter.HasExited);
    }

    [Fact]
    public async Task Adapter_FollowingTheRegistry_ServesPromotionsAndRollbacksWithinSecondsAndReadaptsUsersOfTheOldVersion()
    {
        var connection = redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        var environment = Environment(run);
        string directory = Path.Combine(Path.GetDirectoryName(model.Path)!, $"registry-{run}");
        await using var registry = new FileSystemModelRegistry(directory);
        var first = await registry.PushAsync(File.ReadAllBytes(model.Path), cancellationToken: TestContext.Current.CancellationToken);
        var second = await registry.PushAsync(File.ReadAllBytes(model.OtherPath), cancellationToken: TestContext.Current.CancellationToken);
        await registry.PromoteAsync(first.Version, cancellationToken: TestContext.Current.CancellationToken);
        environment.Remove("Adapter__Model");
        environment["Adapter__Registry"] = directory;
        var users = new UserSource(connection, kafka, environment, run);

        using var adapter = ServiceProcess.Start("Streaming.Adapter", environment);
        string early = "user-0";
        Assert.Equal(first.Version, await users.VersionServedForNextUser());

        var promoted = Stopwatch.StartNew();
        await registry.PromoteAsync(second.Version, cancellationToken: TestContext.Current.CancellationToken);
        await PipelineEnvironment.WaitUntil(async () => await users.VersionServedForNextUser() == second.Version, adapter);
        var promotion = promoted.Elapsed;
        // The user adapted under the old version is re-adapted with the new one, unasked.
        var readapted = users.Recommendations(read => read.Any(r => r.UserId == early && r.ModelVersion == second.Version));
        Assert.Contains(readapted, r => r.UserId == early && r.ModelVersion == second.Version);

        var rolledBack = Stopwatch.StartNew();
        await registry.RollbackAsync(TestContext.Current.CancellationToken);
        await PipelineEnvironment.WaitUntil(async () => await users.VersionServedForNextUser() == first.Version, adapter);
        var rollback = rolledBack.Elapsed;

        // Poll 200 ms, load, then one request round trip through the mock broker; generous against a slow CI machine.
        Assert.True(promotion < TimeSpan.FromSeconds(10) && rollback < TimeSpan.FromSeconds(10), $"promotion took {promotion}, rollback {rollback}");
    }

    [Fact]
    public void Adapter_WithoutAModelFile_FailsAtStartNamingTheKey()
    {
        var environment = Environment(Guid.NewGuid().ToString("N")[..8]);
        environment["Adapter__Model"] = Path.Combine(Path.GetTempPath(), "no-such-model-" + Guid.NewGuid().ToString("N"));

        using var service = ServiceProcess.Start("Streaming.Adapter", environment);

        Assert.True(service.WaitForExit(TimeSpan.FromSeconds(60)), "the service kept running without a model");
        Assert.NotEqual(0, service.ExitCode);
        Assert.Contains("Adapter:Model", service.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Adapter_ModelWithAPerUserStateAboveTheLimit_IsRefusedBeforeItServesNamingTheKey()
    {
        var environment = Environment(Guid.NewGuid().ToString("N")[..8]);
        environment["Adapter__MaxFastStateBytes"] = "64";

        using var service = ServiceProcess.Start("Streaming.Adapter", environment);

        Assert.True(service.WaitForExit(TimeSpan.FromSeconds(60)), "the service served a model above the state limit");
        Assert.NotEqual(0, service.ExitCode);
        Assert.Contains("Adapter:MaxFastStateBytes", service.Output, StringComparison.Ordinal);
    }

    private Dictionary<string, string> Environment(string run)
    {
        var environment = PipelineEnvironment.For(run, kafka, redis);
        environment["Adapter__Model"] = model.Path;
        return environment;
    }

    private List<RecommendationMessage> Recommendations(string topic, Func<List<RecommendationMessage>, bool> done) =>
        ReadRecommendations(kafka, topic, done);

    /// <summary>Reads a recommendations topic from the start until <paramref name="done"/> holds (each message is parsed once).</summary>
    private static List<RecommendationMessage> ReadRecommendations(KafkaMockClusterFixture kafka, string topic, Func<List<RecommendationMessage>, bool> done)
    {
        var read = new List<RecommendationMessage>();
        kafka.ReadUntil(topic, messages =>
        {
            while (read.Count < messages.Count)
            {
                read.Add(JsonSerializer.Deserialize<RecommendationMessage>(messages[read.Count].Message.Value)!);
            }

            return done(read);
        }, TimeSpan.FromSeconds(90));
        return read;
    }

    /// <summary>New users for an Adapter under test: a session written to Redis, an adapt-request, and its answer.</summary>
    private sealed class UserSource(StackExchange.Redis.IConnectionMultiplexer connection, KafkaMockClusterFixture kafka, Dictionary<string, string> environment, string run)
    {
        private readonly RedisSessionStore store = new(connection, new SessionStoreOptions(), "t" + run);
        private readonly int[] items = [.. SyntheticDataset.Generate(new SyntheticOptions()).Items.Keys.Order()];
        private readonly IProducer<string?, byte[]> producer = kafka.Producer();
        private int next;

        public async Task<string> VersionServedForNextUser()
        {
            string id = $"user-{next++}";
            await store.ApplyAsync([.. Enumerable.Range(0, 5).Select(i => new Interaction($"{id}-{i}", id, items[i], 4, Start, null))]);
            var request = new AdaptRequest { UserId = id, Interactions = 5, TriggerEventId = $"{id}-4", TriggerEventTime = Start };
            producer.Produce(environment["Kafka__AdaptRequestsTopic"], new Message<string?, byte[]> { Key = id, Value = JsonSerializer.SerializeToUtf8Bytes(request) });
            producer.Flush(TimeSpan.FromSeconds(10));
            return Recommendations(read => read.Any(r => r.UserId == id)).First(r => r.UserId == id).ModelVersion;
        }

        public List<RecommendationMessage> Recommendations(Func<List<RecommendationMessage>, bool> done) =>
            ReadRecommendations(kafka, environment["Kafka__RecommendationsTopic"], done);
    }

    private static void ReplaceAtomically(string path, byte[] bytes)
    {
        string temporary = path + ".tmp";
        File.WriteAllBytes(temporary, bytes);
        File.Move(temporary, path, overwrite: true);
    }
}

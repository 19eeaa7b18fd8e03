using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Shared.Messaging;
using Streaming.Shared.Registry;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;
using Streaming.Tests.Pipeline;
using Streaming.Tests.Registry;

namespace Streaming.Tests.Adapter;

/// <summary>Faults injected into the Adapter running as a process: a keyless request with a null user id, a refused routed model.</summary>
[Collection(TorchCollection.Name)]
public sealed class AdapterFaultTests(RedisServerFixture redis, KafkaMockClusterFixture kafka, ServedModelFixture model)
    : IClassFixture<RedisServerFixture>, IClassFixture<KafkaMockClusterFixture>, IClassFixture<ServedModelFixture>
{
    private static readonly DateTimeOffset Start = DateTimeOffset.UnixEpoch.AddDays(20_000);
    private static readonly int[] Items = [.. SyntheticDataset.Generate(new SyntheticOptions()).Items.Keys.Order()];

    [Fact]
    public async Task Adapter_KeylessRequestWithNullUserId_IsDeadLetteredAndTheNextUserIsServed()
    {
        var connection = redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        var environment = PipelineEnvironment.For(run, kafka, redis);
        environment["Adapter__Model"] = model.Path;
        string topic = environment["Kafka__AdaptRequestsTopic"];
        using var producer = kafka.Producer();
        await Session(connection, run, "u-next");

        using var adapter = ServiceProcess.Start("Streaming.Adapter", environment);
        // One partition, the poison first: the answer for u-next means the partition moved past it.
        byte[] poison = Encoding.UTF8.GetBytes("""{"schema":"adapt-request.v1","userId":null,"interactions":5,"triggerEventId":"t","triggerEventTime":"2024-10-04T00:00:00Z"}""");
        producer.Produce(new TopicPartition(topic, 0), new Message<string?, byte[]> { Key = null, Value = poison });
        producer.Produce(new TopicPartition(topic, 0), Request("u-next"));
        producer.Flush(TimeSpan.FromSeconds(30));

        var answers = kafka.ReadAll(environment["Kafka__RecommendationsTopic"], 1, TimeSpan.FromSeconds(90));
        Assert.Equal("u-next", Assert.Single(answers).Message.Key);
        var dead = Assert.Single(kafka.ReadAll(environment["Kafka__AdaptRequestsDeadLetterTopic"], 1, TimeSpan.FromSeconds(30)));
        Assert.Null(dead.Message.Key);
        Assert.Equal(poison, dead.Message.Value);
        Assert.Contains("userId must be 1..128 characters", Encoding.UTF8.GetString(dead.Message.Headers.GetLastBytes(DeadLetterHeaders.Reason)), StringComparison.Ordinal);
        Assert.False(adapter.HasExited, adapter.Output);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Adapter_RoutedVersionRefusedAtStart_ServesTheNewestGoodVersionAndReportsDegraded(bool crafted)
    {
        var connection = redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        var environment = PipelineEnvironment.WithHttp(PipelineEnvironment.For(run, kafka, redis));
        string directory = Path.Combine(Path.GetDirectoryName(model.Path)!, $"registry-{run}");
        await using var registry = new FileSystemModelRegistry(directory);
        var ct = TestContext.Current.CancellationToken;
        var good = await registry.PushAsync(File.ReadAllBytes(model.Path), cancellationToken: ct);
        var bad = await registry.PushAsync(File.ReadAllBytes(model.OtherPath), cancellationToken: ct);
        await registry.PromoteAsync(good.Version, cancellationToken: ct);
        await registry.PromoteAsync(bad.Version, cancellationToken: ct);
        // After the promotion, behind the registry's back: altered (checksum mismatch) or crafted (checksum matches).
        byte[] file = File.ReadAllBytes(model.OtherPath);
        RegistryFixtures.Replace(directory, bad.Version, crafted ? RegistryFixtures.Crafted(file) : [.. file[..^1], (byte)(file[^1] ^ 0x40)], matchChecksum: crafted);
        environment["Adapter__Registry"] = directory;
        await Session(connection, run, "u-1");

        using var adapter = ServiceProcess.Start("Streaming.Adapter", environment);
        var address = await adapter.HttpAddressAsync(TimeSpan.FromSeconds(90));
        using var producer = kafka.Producer();
        producer.Produce(environment["Kafka__AdaptRequestsTopic"], Request("u-1"));
        producer.Flush(TimeSpan.FromSeconds(30));

        var answer = Assert.Single(kafka.ReadAll(environment["Kafka__RecommendationsTopic"], 1, TimeSpan.FromSeconds(90)));
        Assert.Equal(good.Version, JsonSerializer.Deserialize<RecommendationMessage>(answer.Message.Value)!.ModelVersion);
        var health = await PipelineEnvironment.GetAsync(address, "/health");
        Assert.Equal((200, "Degraded"), (health.Status, health.Body));
        Assert.Contains("streaming_adapter_model_degraded 1", (await PipelineEnvironment.GetAsync(address, "/metrics")).Body, StringComparison.Ordinal);
        Assert.False(adapter.HasExited, adapter.Output);
    }

    private static async Task Session(StackExchange.Redis.IConnectionMultiplexer connection, string run, string user)
    {
        var store = new RedisSessionStore(connection, new SessionStoreOptions(), "t" + run);
        await store.ApplyAsync([.. Enumerable.Range(0, 5).Select(i => new Interaction($"{user}-{i}", user, Items[i], 4, Start, null))]);
    }

    private static Message<string?, byte[]> Request(string user) => new()
    {
        Key = user,
        Value = JsonSerializer.SerializeToUtf8Bytes(new AdaptRequest { UserId = user, Interactions = 5, TriggerEventId = $"{user}-4", TriggerEventTime = Start }),
    };
}

using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Ingest;

/// <summary>
/// Faults injected into Ingest running as a process (mock broker, private redis-server): message content that
/// once stopped it, consumers joining and leaving mid-stream. No message may stop the service, and every event
/// is applied exactly once.
/// </summary>
public sealed class IngestFaultTests(RedisServerFixture redis, KafkaMockClusterFixture kafka)
    : IClassFixture<RedisServerFixture>, IClassFixture<KafkaMockClusterFixture>
{
    private static readonly DateTimeOffset Start = DateTimeOffset.UnixEpoch.AddDays(20_000);
    private static readonly int[] Items = [.. SyntheticDataset.Generate(new SyntheticOptions()).Items.Keys.Order()];

    [Fact]
    public async Task Ingest_OversizedKeyAndBraceUserIds_AreDeadLetteredWithTheirReasonsAndTheStreamMovesOn()
    {
        var connection = redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        var environment = PipelineEnvironment.For(run, kafka, redis);
        string topic = environment["Kafka__InteractionsTopic"];
        using var producer = kafka.Producer();
        string hugeKey = new('k', 600_000);

        using var ingest = ServiceProcess.Start("Streaming.Ingest", environment);
        // Everything in one partition, the poison first: what follows it is applied only if the partition moved on.
        Send(producer, topic, hugeKey, Event("huge", "u-ok", 0));
        foreach (string id in new[] { "}lead", "a{b}c", "{x}" })
        {
            Send(producer, topic, id, Event("brace-" + id, id, 1));
        }

        for (int i = 0; i < 5; i++)
        {
            Send(producer, topic, "u-ok", Event($"ok-{i}", "u-ok", i));
        }

        producer.Flush(TimeSpan.FromSeconds(30));
        var store = new RedisSessionStore(connection, new SessionStoreOptions(), "t" + run);
        await PipelineEnvironment.WaitUntil(async () => (await store.LoadAsync(["u-ok"])) is [{ Interactions: 5 }], ingest);

        var dead = kafka.ReadAll(environment["Kafka__DeadLetterTopic"], 4, TimeSpan.FromSeconds(60));
        Assert.Equal(4, dead.Count);
        var huge = Assert.Single(dead, m => m.Message.Key?.Length == hugeKey.Length);
        string reason = Header(huge, DeadLetterHeaders.Reason);
        Assert.Contains("is not the event's userId 'u-ok'", reason, StringComparison.Ordinal);
        Assert.True(reason.Length < 1_000, $"the reason repeats the key: {reason.Length} characters");
        Assert.All(dead.Where(m => m != huge), m => Assert.Contains("must not contain '{' or '}'", Header(m, DeadLetterHeaders.Reason), StringComparison.Ordinal));
        Assert.Empty(await store.LoadAsync(["}lead", "a{b}c", "{x}"]));
        Assert.False(ingest.HasExited, ingest.Output);
    }

    [Fact]
    public async Task Ingest_DeadLetterTooLargeToProduce_SendsABoundedEnvelopeAndMovesOn()
    {
        var connection = redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        var environment = PipelineEnvironment.For(run, kafka, redis);
        // A dead-letter topic (here: the producer) that takes less than the source topic does.
        environment["Kafka__ProducerSettings__message.max.bytes"] = "300000";
        environment["Kafka__ProducerSettings__batch.size"] = "100000";
        string topic = environment["Kafka__InteractionsTopic"];
        using var producer = kafka.Producer();
        string hugeKey = new string('k', 599_995) + "-tail";
        byte[] value = Event("huge", "u-ok", 0);

        using var ingest = ServiceProcess.Start("Streaming.Ingest", environment);
        Send(producer, topic, hugeKey, value);
        for (int i = 0; i < 5; i++)
        {
            Send(producer, topic, "u-ok", Event($"ok-{i}", "u-ok", i));
        }

        producer.Flush(TimeSpan.FromSeconds(30));
        var store = new RedisSessionStore(connection, new SessionStoreOptions(), "t" + run);
        await PipelineEnvironment.WaitUntil(async () => (await store.LoadAsync(["u-ok"])) is [{ Interactions: 5 }], ingest);

        var envelope = Assert.Single(kafka.ReadAll(environment["Kafka__DeadLetterTopic"], 1, TimeSpan.FromSeconds(60)));
        Assert.Equal(DeadLetterEnvelope.SchemaV1, Header(envelope, DeadLetterHeaders.Envelope));
        Assert.Equal(topic, Header(envelope, DeadLetterHeaders.SourceTopic));
        var body = JsonSerializer.Deserialize<DeadLetterEnvelope>(envelope.Message.Value)!;
        Assert.Equal((600_000, value.Length, DeadLetters.MaxEnvelopeKeyChars), (body.KeyBytes, body.ValueBytes, body.KeyTruncated!.Length));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(hugeKey))), body.KeySha256);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(value)), body.ValueSha256);
        Assert.Contains("is not the event's userId", body.Reason, StringComparison.Ordinal);
        Assert.Equal(envelope.Message.Key, body.KeyTruncated);
        Assert.False(ingest.HasExited, ingest.Output);
    }

    [Fact]
    public async Task ThreeIngestsJoiningAndLeavingMidStream_ApplyEveryEventExactlyOnce()
    {
        var connection = redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        var environment = PipelineEnvironment.For(run, kafka, redis);
        // Batches gathered for 1.5 s: a rebalance (a join, a leave) nearly always revokes a partition whose
        // messages are in the batch being gathered, whose offset must then not be stored.
        environment["Ingest__MaxBatchSize"] = "100000";
        environment["Ingest__MaxBatchWaitMs"] = "1500";
        const int Users = 200, PerUser = 15;
        var events = Enumerable.Range(0, Users * PerUser)
            .Select(i => new InteractionEvent { EventId = $"{run}-{i}", UserId = $"user-{i % Users}", ItemId = Items[i % Items.Length], Rating = 1 + (i % 5), EventTime = Start.AddSeconds(i) })
            .ToArray();
        using var producer = kafka.Producer();
        string topic = environment["Kafka__InteractionsTopic"];
        var store = new RedisSessionStore(connection, new SessionStoreOptions(), "t" + run);
        var userIds = Enumerable.Range(0, Users).Select(u => $"user-{u}").ToList();
        async Task<long> Applied() => (await store.LoadAsync(userIds)).Sum(s => s.Interactions);

        // The stream flows all along (20 events every 100 ms) while the group changes: A, then B and C join, A
        // leaves cleanly, B is killed. Batches are being gathered at every rebalance.
        var ct = TestContext.Current.CancellationToken;
        var publishing = Task.Run(async () =>
        {
            for (int i = 0; i < events.Length; i += 20)
            {
                PipelineEnvironment.Produce(producer, topic, events[i..Math.Min(events.Length, i + 20)]);
                await Task.Delay(100, ct);
            }
        }, ct);
        using var a = ServiceProcess.Start("Streaming.Ingest", environment);
        await PipelineEnvironment.WaitUntil(async () => await Applied() > 0, a);
        using var b = ServiceProcess.Start("Streaming.Ingest", environment);
        await Task.Delay(3000, ct);
        using var c = ServiceProcess.Start("Streaming.Ingest", environment);
        await Task.Delay(3000, ct);
        a.Stop();
        await Task.Delay(2000, ct);
        b.KillHard();
        await publishing;

        await PipelineEnvironment.WaitUntil(async () => await Applied() == events.Length, c);
        Assert.True(a.WaitForExit(TimeSpan.FromSeconds(30)), "A did not stop");
        Assert.Equal(0, a.ExitCode);
        var sessions = await store.LoadAsync(userIds);
        Assert.All(sessions, s => Assert.Equal(PerUser, s.Interactions));
        Assert.False(c.HasExited, c.Output);
        foreach (var service in new[] { a, b, c })
        {
            Assert.DoesNotContain("Stopping the consume loop", service.Output, StringComparison.Ordinal);
        }
    }

    internal static byte[] Event(string id, string user, int index) => JsonSerializer.SerializeToUtf8Bytes(new InteractionEvent
    {
        EventId = id,
        UserId = user,
        ItemId = Items[index % Items.Length],
        Rating = 4,
        EventTime = Start.AddSeconds(index),
    });

    /// <summary>To partition 0, so that the order of what is sent is the order it is consumed in.</summary>
    internal static void Send(IProducer<string?, byte[]> producer, string topic, string? key, byte[] value) =>
        producer.Produce(new TopicPartition(topic, 0), new Message<string?, byte[]> { Key = key, Value = value });

    internal static string Header(ConsumeResult<string?, byte[]> message, string name) =>
        Encoding.UTF8.GetString(message.Message.Headers.GetLastBytes(name));
}

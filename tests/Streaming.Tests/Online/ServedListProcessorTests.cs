using System.Text;
using System.Text.Json;
using Polly;
using Streaming.Ingest.Online;
using Streaming.Ingest.Processing;
using Streaming.Shared.Contracts;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Online;

/// <summary>Ingest's two processors on one stream (the mock broker and a private redis-server): served lists, then the interactions after them.</summary>
[Trait("Kind", "Integration")]
public sealed class ServedListProcessorTests(RedisServerFixture redis, KafkaMockClusterFixture kafka)
    : IClassFixture<RedisServerFixture>, IClassFixture<KafkaMockClusterFixture>
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Process_MalformedRecommendationsAmongGoodOnes_DeadLettersEachWithItsReasonAndRecordsTheRest()
    {
        var (served, _, topics, producer) = Create();
        using var _ = producer;
        var batch = new List<IncomingMessage>
        {
            Message(topics, "u1", Recommendation("u1", "v1", T0, 1, 2)),
            Message(topics, "u2", Encoding.UTF8.GetBytes("{\"schema\":")),
            Message(topics, "u3", Recommendation("u3", "v|1", T0, 1)),
            Message(topics, "u4", Recommendation("someone-else", "v1", T0, 1)),
            Message(topics, "u5", Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Recommendation("u5", "v1", T0, 1)).Replace("recommendation.v1", "recommendation.v9", StringComparison.Ordinal))),
        };

        var outcome = await served.ProcessAsync(batch, TestContext.Current.CancellationToken);

        Assert.Equal((1, 4), (outcome.Recorded, outcome.DeadLettered));
        var reasons = kafka.ReadAll(topics.DeadLetterTopic, 4, TimeSpan.FromSeconds(30))
            .Select(m => Encoding.UTF8.GetString(m.Message.Headers.GetLastBytes(DeadLetterHeaders.Reason))).ToList();
        Assert.Contains(reasons, r => r.StartsWith("malformed recommendation", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("modelVersion 'v|1'", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("is not the userId", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("unsupported schema", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Process_ListsAndInteractionsRedelivered_CountEveryOutcomeOnce()
    {
        var (served, interactions, topics, producer) = Create();
        using var _ = producer;
        var lists = Enumerable.Range(0, 20).Select(u => Message(topics, $"u{u}", Recommendation($"u{u}", u % 2 == 0 ? "v1" : "v2", T0, 1, 2, 3))).ToList();
        // Four interactions per user after the list: items 1 and 3 are hits (ranks 1 and 3), 50 and 51 misses.
        var events = Enumerable.Range(0, 80).Select(i => Message(topics, $"u{i % 20}", JsonSerializer.SerializeToUtf8Bytes(new InteractionEvent
        {
            EventId = $"e{i}",
            UserId = $"u{i % 20}",
            ItemId = new[] { 1, 50, 3, 51 }[i / 20],
            Rating = 4,
            EventTime = T0.AddSeconds(1 + (i / 20)),
        }))).ToList();

        for (int delivery = 0; delivery < 2; delivery++)
        {
            await served.ProcessAsync(lists, TestContext.Current.CancellationToken);
            await interactions.ProcessAsync(events, TestContext.Current.CancellationToken);
        }

        var tallies = (await Store().ReadTalliesAsync()).ToDictionary(t => t.Arm);
        Assert.Equal(["v1", "v2"], tallies.Keys.Order(StringComparer.Ordinal));
        Assert.All(tallies.Values, t => Assert.Equal((10L, 40L, 20L), (t.Users, t.Events, t.Hits)));
        Assert.All(tallies.Values, t => Assert.Equal((1 + (1.0 / 3)) / 4, t.Mrr, 12));
    }

    private string prefix = "";

    private RedisSessionStore Store() => new(redis.Require(), new SessionStoreOptions(), prefix);

    private (ServedListProcessor Served, InteractionBatchProcessor Interactions, KafkaOptions Topics, Confluent.Kafka.IProducer<string?, byte[]> Producer) Create()
    {
        string run = Guid.NewGuid().ToString("N")[..8];
        prefix = "o" + run;
        var topics = new KafkaOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            InteractionsTopic = $"interactions-{run}",
            DeadLetterTopic = $"interactions.dlq-{run}",
            AdaptRequestsTopic = $"adapt-requests-{run}",
            RecommendationsTopic = $"recommendations-{run}",
        };
        var producer = kafka.Producer();
        var store = Store();
        var validator = new InteractionValidator(new ValidationRules(), item => item is >= 1 and <= 100);
        return (new ServedListProcessor(store, new KafkaOutbox(producer), topics, ResiliencePipeline.Empty),
            new InteractionBatchProcessor(validator, store, new KafkaOutbox(producer), topics, ResiliencePipeline.Empty), topics, producer);
    }

    private static IncomingMessage Message(KafkaOptions topics, string key, byte[] value) => new(key, value, topics.RecommendationsTopic, 0, 0);

    private static byte[] Recommendation(string user, string version, DateTimeOffset producedAt, params int[] items) => JsonSerializer.SerializeToUtf8Bytes(new RecommendationMessage
    {
        UserId = user,
        Items = [.. items.Select(i => new RecommendedItem(i, 4f, 4f))],
        ModelVersion = version,
        Basis = RecommendationMessage.Adapted,
        Interactions = 5,
        TriggerEventTime = producedAt,
        ProducedAt = producedAt,
    });
}

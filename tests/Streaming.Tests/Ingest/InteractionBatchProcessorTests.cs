using System.Text;
using System.Text.Json;
using Polly;
using Streaming.Ingest.Processing;
using Streaming.Shared.Contracts;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Ingest;

[Trait("Kind", "Integration")]
public sealed class InteractionBatchProcessorTests(RedisServerFixture redis, KafkaMockClusterFixture kafka)
    : IClassFixture<RedisServerFixture>, IClassFixture<KafkaMockClusterFixture>
{
    [Fact]
    public async Task Process_ThousandsOfPoisonMessagesAmongGoodOnes_DeadLettersEachWithItsReasonAndAppliesTheRest()
    {
        var (processor, topics, producer) = Create(threshold: 5);
        using var _ = producer;
        var random = new Random(5);
        var batch = new List<IncomingMessage>();
        int good = 0, bad = 0;
        for (int i = 0; i < 5000; i++)
        {
            string user = $"user-{i % 200}";
            byte[] value;
            if (random.NextDouble() < 0.6)
            {
                value = Poison(random, user, i);
                bad++;
            }
            else
            {
                value = Good(user, $"ev-{i}", item: 1 + (i % 50));
                good++;
            }

            batch.Add(new IncomingMessage(user, value, topics.InteractionsTopic, 0, i));
        }

        var outcome = await processor.ProcessAsync(batch, TestContext.Current.CancellationToken);

        Assert.Equal(bad, outcome.DeadLettered);
        Assert.Equal(good, outcome.Applied);
        var dlq = kafka.ReadAll(topics.DeadLetterTopic, bad, TimeSpan.FromSeconds(30));
        Assert.Equal(bad, dlq.Count);
        Assert.All(dlq, m => Assert.False(string.IsNullOrEmpty(Header(m, DeadLetterHeaders.Reason))));
        Assert.Contains(dlq, m => Header(m, DeadLetterHeaders.Reason).Contains("unknown item", StringComparison.Ordinal));
        Assert.Contains(dlq, m => Header(m, DeadLetterHeaders.Reason).StartsWith("malformed JSON", StringComparison.Ordinal));
        Assert.Contains(dlq, m => Header(m, DeadLetterHeaders.Reason).Contains("outside 1..5", StringComparison.Ordinal));
        Assert.Contains(dlq, m => Header(m, DeadLetterHeaders.Reason).Contains("exceeds", StringComparison.Ordinal));
        Assert.Contains(dlq, m => Header(m, DeadLetterHeaders.Reason).Contains("is not the event's userId", StringComparison.Ordinal));
        // Unchanged: the dead-lettered value is byte-for-byte what came in.
        var offsets = dlq.Select(m => long.Parse(Header(m, DeadLetterHeaders.SourceOffset), System.Globalization.CultureInfo.InvariantCulture));
        Assert.All(dlq, m => Assert.Equal(batch[(int)long.Parse(Header(m, DeadLetterHeaders.SourceOffset), System.Globalization.CultureInfo.InvariantCulture)].Value, m.Message.Value));
        Assert.Equal(bad, offsets.Distinct().Count());
    }

    [Fact]
    public async Task Process_RedeliveredBatch_AppliesNothingTwiceAndStillRequestsEveryDueUser()
    {
        var (processor, topics, producer) = Create(threshold: 3);
        using var _ = producer;
        var batch = Enumerable.Range(0, 30)
            .Select(i => new IncomingMessage($"u{i % 10}", Good($"u{i % 10}", $"e{i}", item: 1 + i), topics.InteractionsTopic, 0, i))
            .ToList();

        var first = await processor.ProcessAsync(batch, TestContext.Current.CancellationToken);
        var again = await processor.ProcessAsync(batch, TestContext.Current.CancellationToken);

        Assert.Equal((30, 0, 10, 10), (first.Applied, first.Duplicates, first.AdaptRequests, first.OnboardingRequests));
        // Redelivered: the events that made users due ask again; the first events do not ask for onboarding
        // again, because every user is past the threshold by now.
        Assert.Equal((0, 30, 10, 0), (again.Applied, again.Duplicates, again.AdaptRequests, again.OnboardingRequests));
        var requests = kafka.ReadAll(topics.AdaptRequestsTopic, 30, TimeSpan.FromSeconds(30))
            .Select(m => JsonSerializer.Deserialize<AdaptRequest>(m.Message.Value)!)
            .ToList();
        Assert.Equal(30, requests.Count);
        Assert.All(requests.Where(r => r.Basis == RecommendationMessage.Adapted), r => Assert.Equal(3, r.Interactions));
        Assert.All(requests.Where(r => r.Basis == RecommendationMessage.Onboarding), r => Assert.Equal(1, r.Interactions));
        Assert.Equal(20, requests.Count(r => r.Basis == RecommendationMessage.Adapted));
        Assert.Equal(10, requests.Where(r => r.Basis == RecommendationMessage.Adapted).Select(r => r.UserId).Distinct().Count());
        Assert.Equal(10, requests.Where(r => r.Basis == RecommendationMessage.Onboarding).Select(r => r.UserId).Distinct().Count());
    }

    private (InteractionBatchProcessor Processor, KafkaOptions Topics, Confluent.Kafka.IProducer<string?, byte[]> Producer) Create(int threshold)
    {
        string run = Guid.NewGuid().ToString("N")[..8];
        var topics = new KafkaOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            InteractionsTopic = $"interactions-{run}",
            DeadLetterTopic = $"interactions.dlq-{run}",
            AdaptRequestsTopic = $"adapt-requests-{run}",
        };
        var producer = kafka.Producer();
        var store = new RedisSessionStore(redis.Require(), new SessionStoreOptions { AdaptThreshold = threshold, AdaptEvery = 100 }, "t" + run);
        var validator = new InteractionValidator(new ValidationRules(), item => item is >= 1 and <= 100);
        return (new InteractionBatchProcessor(validator, store, new KafkaOutbox(producer), topics, ResiliencePipeline.Empty), topics, producer);
    }

    private static byte[] Good(string user, string id, int item) => JsonSerializer.SerializeToUtf8Bytes(new InteractionEvent
    {
        EventId = id,
        UserId = user,
        ItemId = item,
        Rating = 1 + (item % 5),
        EventTime = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero).AddSeconds(item),
    });

    private static byte[] Poison(Random random, string user, int i) => (i % 5) switch
    {
        0 => Encoding.UTF8.GetBytes("{\"schema\":\"interaction.v1\",\"eventId\":"),
        1 => Good(user, $"bad-{i}", item: 100_000),
        2 => JsonSerializer.SerializeToUtf8Bytes(new InteractionEvent { EventId = $"bad-{i}", UserId = user, ItemId = 3, Rating = 9, EventTime = DateTimeOffset.UnixEpoch.AddDays(20_000) }),
        3 => new byte[10_000],
        _ => Good("someone-else", $"bad-{i}", item: 4 + random.Next(3)),
    };

    private static string Header(Confluent.Kafka.ConsumeResult<string?, byte[]> m, string name) =>
        Encoding.UTF8.GetString(m.Message.Headers.GetLastBytes(name));
}

using System.Text.Json;
using Streaming.Adapter.Processing;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Shared.Learning;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;
using Streaming.Tests.Learning;

namespace Streaming.Tests.Adapter;

[Collection(TorchCollection.Name)]
public sealed class AdaptationBatchProcessorTests(RedisServerFixture redis, KafkaMockClusterFixture kafka)
    : IClassFixture<RedisServerFixture>, IClassFixture<KafkaMockClusterFixture>
{
    [Fact]
    public async Task Process_CoalescedRequests_PublishesOneRecommendationPerUserAndCachesTaggedFastWeights()
    {
        var connection = redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        var data = LearningFixtures.Synthetic(users: 200);
        using var model = LearningFixtures.Train(data, LearningFixtures.QuickTraining(scope: FastWeightScope.LowRank, epochs: 1)).Model;
        using var recommender = new BatchRecommender(model, data.Items.Values);
        var store = new RedisSessionStore(connection, new SessionStoreOptions(), "s" + run);
        var cache = new FastWeightCache(connection, "w" + run, TimeSpan.FromHours(1));
        var topics = new KafkaOptions { BootstrapServers = kafka.BootstrapServers, RecommendationsTopic = $"recommendations-{run}" };
        using var producer = kafka.Producer();
        var processor = new AdaptationBatchProcessor(recommender, "v-test", store, cache, new KafkaOutbox(producer), topics, steps: 2, topK: 7, TimeProvider.System);

        var users = Enumerable.Range(1, 12).Select(u => $"user-{u}").ToArray();
        var itemIds = data.Items.Keys.Order().ToArray();
        var seen = users.ToDictionary(u => u, u => itemIds.Skip(users.ToList().IndexOf(u) * 3).Take(6).ToArray());
        await store.ApplyAsync(users.SelectMany(u => seen[u].Select((item, i) =>
            new Interaction($"{u}-{i}", u, item, 1 + (i % 5), DateTimeOffset.UnixEpoch.AddDays(20_000).AddMinutes(i), null))).ToList());
        // Two requests per user (at 5 and 6 interactions) and one for a user without a session.
        var requests = users.SelectMany(u => new[] { 5L, 6L }.Select(n => new AdaptRequest
        {
            UserId = u,
            Interactions = n,
            TriggerEventId = $"{u}-{n - 1}",
            TriggerEventTime = DateTimeOffset.UnixEpoch.AddDays(20_000),
        })).Append(new AdaptRequest { UserId = "ghost", Interactions = 5, TriggerEventId = "g", TriggerEventTime = DateTimeOffset.UnixEpoch }).ToList();

        var outcome = await processor.ProcessAsync(requests, TestContext.Current.CancellationToken);

        Assert.Equal((12, 1), (outcome.Users, outcome.MissingSessions));
        var messages = kafka.ReadAll(topics.RecommendationsTopic, 12, TimeSpan.FromSeconds(30))
            .Select(m => JsonSerializer.Deserialize<RecommendationMessage>(m.Message.Value)!)
            .ToList();
        Assert.Equal(users.Order(), messages.Select(m => m.UserId).Order());
        Assert.All(messages, m =>
        {
            Assert.Equal(("v-test", RecommendationMessage.Adapted, 6, 7), (m.ModelVersion, m.Basis, m.Interactions, m.Items.Count));
            Assert.DoesNotContain(m.Items, i => seen[m.UserId].Contains(i.ItemId));
        });

        var cached = await cache.GetManyAsync(users);
        Assert.All(cached, c =>
        {
            Assert.NotNull(c);
            Assert.Equal(("v-test", 6L, model.Network.FastStateSize), (c!.ModelVersion, c.Interactions, (long)c.Values.Length));
        });
    }
}

using System.Text;
using System.Text.Json;
using Polly;
using Streaming.Adapter.Models;
using Streaming.Adapter.Processing;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Learning.Methods.Mml;
using Streaming.Learning.Networks.ItemItem;
using Streaming.Learning.Serving;
using Streaming.Learning.Training;
using Streaming.Shared.Models;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;
using Streaming.Tests.Learning;

namespace Streaming.Tests.Adapter;

[Collection(TorchCollection.Name)]
[Trait("Kind", "Integration")]
public sealed class AdaptationBatchProcessorTests(RedisServerFixture redis, KafkaMockClusterFixture kafka)
    : IClassFixture<RedisServerFixture>, IClassFixture<KafkaMockClusterFixture>
{
    private static readonly DateTimeOffset Start = DateTimeOffset.UnixEpoch.AddDays(20_000);

    [Fact]
    public async Task Process_CoalescedRequests_PublishesOneRecommendationPerUserAndCachesTaggedFastWeights()
    {
        using var setup = Setup(out var data);
        var users = Enumerable.Range(1, 12).Select(u => $"user-{u}").ToArray();
        var itemIds = data.Items.Keys.Order().ToArray();
        var seen = users.ToDictionary(u => u, u => itemIds.Skip(users.ToList().IndexOf(u) * 3).Take(6).ToArray());
        await setup.Store.ApplyAsync(users.SelectMany(u => seen[u].Select((item, i) =>
            new Interaction($"{u}-{i}", u, item, 1 + (i % 5), Start.AddMinutes(i), null))).ToList());
        // Two requests per user (at 5 and 6 interactions) and one for a user without a session.
        var requests = users.SelectMany(u => new[] { 5L, 6L }.Select(n => Request(u, n, RecommendationMessage.Adapted)))
            .Append(Request("ghost", 5, RecommendationMessage.Adapted))
            .ToList();

        var outcome = await setup.Processor.ProcessAsync([.. Messages(requests)], new ServingSet(setup.Model), TestContext.Current.CancellationToken);

        Assert.Equal((12, 1, 0), (outcome.Published.Count, outcome.MissingSessions, outcome.DeadLettered));
        var messages = kafka.ReadAll(setup.Topics.RecommendationsTopic, 12, TimeSpan.FromSeconds(90))
            .Select(m => JsonSerializer.Deserialize<RecommendationMessage>(m.Message.Value)!)
            .ToList();
        Assert.Equal(users.Order(), messages.Select(m => m.UserId).Order());
        Assert.All(messages, m =>
        {
            Assert.Equal(("v-test", RecommendationMessage.Adapted, 6, 7), (m.ModelVersion, m.Basis, m.Interactions, m.Items.Count));
            Assert.DoesNotContain(m.Items, i => seen[m.UserId].Contains(i.ItemId));
            // Each item carries the rating head's prediction, on the rating scale (online evaluation's MAE).
            Assert.All(m.Items, i => Assert.InRange(i.PredictedRating ?? float.NaN, Rating.MinValue, Rating.MaxValue));
        });

        var cached = await setup.Cache.GetManyAsync(users);
        Assert.All(cached, c =>
        {
            Assert.NotNull(c);
            // The adaptation's record only: the weights themselves are not cached (nothing reads them back).
            Assert.Equal(("v-test", 6L, 0L), (c!.ModelVersion, c.Interactions, (long)c.Values.Length));
        });
    }

    [Fact]
    public async Task Process_OnboardingRequest_PublishesUnseenEvidenceCandidatesThenPopularItems()
    {
        using var setup = Setup(out var data);
        var onboarding = setup.Model.Model.Manifest.Onboarding;
        Assert.NotNull(onboarding);
        Assert.NotEmpty(onboarding!.Evidence);
        int firstCandidate = onboarding.Evidence[0].ItemId;
        await setup.Store.ApplyAsync([new Interaction("new-1", "newcomer", firstCandidate, 4, Start, null)]);

        var outcome = await setup.Processor.ProcessAsync([.. Messages([Request("newcomer", 1, RecommendationMessage.Onboarding)])], new ServingSet(setup.Model), TestContext.Current.CancellationToken);

        var message = Assert.Single(outcome.Published);
        Assert.Equal((RecommendationMessage.Onboarding, 1, 7), (message.Basis, message.Interactions, message.Items.Count));
        Assert.DoesNotContain(message.Items, i => i.ItemId == firstCandidate);
        var expected = onboarding.Evidence.Concat(onboarding.Popular).Select(s => s.ItemId).Where(id => id != firstCandidate).Distinct().Take(7);
        Assert.Equal(expected, message.Items.Select(i => i.ItemId));
        Assert.All(message.Items, i => Assert.Null(i.PredictedRating));   // an onboarding list predicts no rating
        Assert.Null((await setup.Cache.GetManyAsync(["newcomer"]))[0]);   // nothing adapted, nothing cached
    }

    [Fact]
    public async Task Process_UnreadableRequests_AreDeadLetteredWithReasonAndTheRestServed()
    {
        using var setup = Setup(out var data);
        await setup.Store.ApplyAsync(Enumerable.Range(0, 5).Select(i => new Interaction($"ok-{i}", "ok", data.Items.Keys.Min() + i, 3, Start, null)).ToList());
        var good = Request("ok", 5, RecommendationMessage.Adapted);
        var bad = new[]
        {
            new IncomingMessage("x", Encoding.UTF8.GetBytes("{not json"), "adapt-requests", 0, 1),
            new IncomingMessage("x", Encoding.UTF8.GetBytes("""{"schema":"adapt-request.v9","userId":"x","interactions":5,"triggerEventId":"e","triggerEventTime":"2025-01-01T00:00:00Z"}"""), "adapt-requests", 0, 2),
            new IncomingMessage("y", JsonSerializer.SerializeToUtf8Bytes(new AdaptRequest { UserId = "x", Interactions = 5, TriggerEventId = "e", TriggerEventTime = Start }), "adapt-requests", 0, 3),
            new IncomingMessage("x", JsonSerializer.SerializeToUtf8Bytes(new AdaptRequest { UserId = "x", Interactions = 5, TriggerEventId = "e", TriggerEventTime = Start, Basis = "magic" }), "adapt-requests", 0, 4),
        };

        var outcome = await setup.Processor.ProcessAsync([.. bad, .. Messages([good])], new ServingSet(setup.Model), TestContext.Current.CancellationToken);

        Assert.Equal((1, 4), (outcome.Published.Count, outcome.DeadLettered));
        var dead = kafka.ReadAll(setup.Topics.AdaptRequestsDeadLetterTopic, 4, TimeSpan.FromSeconds(90));
        var reasons = dead.Select(d => Encoding.UTF8.GetString(d.Message.Headers.GetLastBytes(DeadLetterHeaders.Reason))).ToList();
        Assert.Contains(reasons, r => r.StartsWith("malformed adapt-request", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("unsupported schema", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("is not the userId", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("unknown basis", StringComparison.Ordinal));
        Assert.Equal(bad.Select(b => b.Value), dead.OrderBy(d => long.Parse(Encoding.UTF8.GetString(d.Message.Headers.GetLastBytes(DeadLetterHeaders.SourceOffset)), System.Globalization.CultureInfo.InvariantCulture)).Select(d => d.Message.Value));
    }

    [Fact]
    public async Task Process_MmlModelAfterACatalogueRefresh_CanServeTheItemAddedWhileRunning()
    {
        // Users with hidden tastes (four clusters of items); the refreshed catalogue adds a new id, without an identity
        // embedding, that has the side information and text of a cluster's item.
        var world = HiddenTastes.Create(users: 120, seed: 5);
        var hyper = ItemItemNetworkTests.Small with { Method = MmlMethod.RegisteredName, TextDim = 64 };
        var model = MetaTraining.Run(world.AsTaskSource(), new TrainingOptions { Hyperparameters = hyper, Epochs = 2, Patience = 2, Seed = 7 }, initial: null, TorchSharp.torch.CPU, TimeProvider.System, cancellationToken: TestContext.Current.CancellationToken).Model;
        var added = world.Items[7] with { ItemId = 5000 };
        using var setup = Setup(out _, new ServingModel("v-mml", model, new BatchRecommender(model, world.Items.Values.Append(added))), topK: 20);   // owns the model
        var users = world.Tasks.Take(40).ToArray();
        await setup.Store.ApplyAsync(users.SelectMany(t => t.Support.Select((r, i) =>
            new Interaction($"u{t.UserId}-{i}", $"u{t.UserId}", r.ItemId, (int)r.Value, Start.AddMinutes(i), null))).ToList());

        var outcome = await setup.Processor.ProcessAsync([.. Messages(users.Select(t => Request($"u{t.UserId}", t.Support.Count, RecommendationMessage.Adapted)))], new ServingSet(setup.Model), TestContext.Current.CancellationToken);

        Assert.Equal(users.Length, outcome.Published.Count);
        Assert.Contains(outcome.Published, m => m.Items.Any(i => i.ItemId == added.ItemId));
    }

    private static AdaptRequest Request(string user, long interactions, string basis) => new()
    {
        UserId = user,
        Interactions = interactions,
        TriggerEventId = $"{user}-{interactions - 1}",
        TriggerEventTime = Start,
        Basis = basis,
    };

    private static IEnumerable<IncomingMessage> Messages(IEnumerable<AdaptRequest> requests) =>
        requests.Select((r, i) => new IncomingMessage(r.UserId, JsonSerializer.SerializeToUtf8Bytes(r), "adapt-requests", 0, 100 + i));

    private ProcessorSetup Setup(out RatingsDataset data, ServingModel? served = null, int topK = 7)
    {
        var connection = redis.Require();
        string run = Guid.NewGuid().ToString("N")[..8];
        data = LearningFixtures.Synthetic(users: 200);
        ServingModel serving;
        if (served is null)
        {
            var model = LearningFixtures.Train(data, LearningFixtures.QuickTraining(scope: FastWeightScope.LowRank, epochs: 1)).Model;
            serving = new ServingModel("v-test", model, new BatchRecommender(model, data.Items.Values));
        }
        else
        {
            serving = served;
        }

        var store = new RedisSessionStore(connection, new SessionStoreOptions(), "s" + run);
        var cache = new FastWeightCache(connection, "w" + run, TimeSpan.FromHours(1));
        var topics = new KafkaOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            RecommendationsTopic = $"recommendations-{run}",
            AdaptRequestsDeadLetterTopic = $"adapt-requests-dlq-{run}",
        };
        var producer = kafka.Producer();
        var processor = new AdaptationBatchProcessor(store, cache, new KafkaOutbox(producer), topics, new AdaptationSettings(Steps: 2, TopK: topK), ResiliencePipeline.Empty, TimeProvider.System);
        return new ProcessorSetup(processor, serving, store, cache, topics, producer);
    }

    private sealed record ProcessorSetup(
        AdaptationBatchProcessor Processor, ServingModel Model, RedisSessionStore Store, FastWeightCache Cache, KafkaOptions Topics, IDisposable Producer) : IDisposable
    {
        public void Dispose()
        {
            Producer.Dispose();
            Model.Dispose();
        }
    }
}

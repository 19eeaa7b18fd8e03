using Streaming.Learning.Networks.Melu;
using Streaming.Shared.Data;
using Streaming.Learning.Inputs;
using Streaming.Learning.Models;
using Streaming.Learning.Serving;
using Streaming.Shared.Models;

namespace Streaming.Tests.Learning;

[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class BatchRecommenderTests
{
    [Theory]
    [InlineData(FastWeightScope.All)]
    [InlineData(FastWeightScope.LowRank)]
    public void Recommend_InOneBatch_EqualsOneUserAtATime(FastWeightScope scope)
    {
        var (data, model) = Trained(scope);
        using var _ = model;
        using var recommender = new BatchRecommender(model, data.Items.Values);
        var sessions = Sessions(data, 6);

        var batched = recommender.Recommend(sessions, steps: 2, topK: 10);
        for (int u = 0; u < sessions.Length; u++)
        {
            var alone = recommender.Recommend([sessions[u]], steps: 2, topK: 10)[0];
            Assert.Equal(alone.Items.Select(i => i.ItemId), batched[u].Items.Select(i => i.ItemId));
            Assert.All(alone.Items.Zip(batched[u].Items), p => Assert.Equal(p.First.Score, p.Second.Score, 3));
        }
    }

    public static TheoryData<FastWeightScope> Scopes => new(Enum.GetValues<FastWeightScope>());

    [Theory]
    [MemberData(nameof(Scopes))]
    public void ScoreCatalogue_ServingPath_EqualsTheGeneralForward(FastWeightScope scope)
    {
        using var d = TorchSharp.torch.NewDisposeScope();
        using var noGrad = TorchSharp.torch.no_grad();
        TorchSharp.torch.manual_seed(3);
        var data = LearningFixtures.Synthetic(users: 50);
        var features = FeatureSpace.Build(data.Items.Values, data.Users.Values);
        var hyper = new Hyperparameters { Scope = scope, EmbeddingDim = 8, Hidden1 = 16, Hidden2 = 12, Rank = 3, ContextDim = 5 };
        using var network = new MeluNetwork(hyper, features.Vocabularies.Select(v => v.Size).ToArray());
        using var items = new ItemFeatureTensors(features.EncodeItems(data.Items.Values), TorchSharp.torch.CPU);
        using var catalogue = network.PrepareCatalogue(items);
        var users = TorchSharp.torch.randn(5, 32);
        // A perturbed fast state, so every per-user tensor differs from the shared one.
        var fast = network.InitialFastWeights(users).Select((_, t) => t + (0.1 * TorchSharp.torch.randn_like(t)));

        var expected = network.Forward(catalogue.Embeddings, users, fast).Prediction;
        var actual = network.ScoreCatalogue(catalogue, users, fast);

        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.allclose(actual, rtol: 1e-4, atol: 1e-5), $"max difference {(expected - actual).abs().max().item<float>()}");
    }

    [Fact]
    public void Recommend_ReturnsTopKUnseenItemsInDescendingScore()
    {
        var (data, model) = Trained(FastWeightScope.All);
        using var _ = model;
        using var recommender = new BatchRecommender(model, data.Items.Values);
        var sessions = Sessions(data, 4);

        var results = recommender.Recommend(sessions, steps: 2, topK: 15);

        for (int u = 0; u < sessions.Length; u++)
        {
            var seen = sessions[u].Interactions.Select(r => r.ItemId).ToHashSet();
            Assert.Equal(15, results[u].Items.Count);
            Assert.DoesNotContain(results[u].Items, i => seen.Contains(i.ItemId));
            Assert.Equal(results[u].Items.Select(i => i.Score).OrderDescending(), results[u].Items.Select(i => i.Score));
            Assert.Equal(15, results[u].Items.Select(i => i.ItemId).Distinct().Count());
        }
    }

    [Fact]
    public void Recommend_ExportedFastState_HasOneRowOfTheScopeSizePerUser()
    {
        var (data, model) = Trained(FastWeightScope.LowRank);
        using var _ = model;
        using var recommender = new BatchRecommender(model, data.Items.Values);

        var results = recommender.Recommend(Sessions(data, 3), steps: 1, topK: 5, exportFastState: true);

        Assert.All(results, r => Assert.Equal(model.Module.FastStateSize, r.FastState!.Length));
        Assert.NotEqual(results[0].FastState, results[1].FastState);
    }

    [Fact]
    public void Recommend_WithNoInteractions_FallsBackToTheMetaInitialisation()
    {
        var (data, model) = Trained(FastWeightScope.All);
        using var _ = model;
        using var recommender = new BatchRecommender(model, data.Items.Values);

        var results = recommender.Recommend([new UserSession(UserProfile.Unknown, [])], steps: 5, topK: 5);

        Assert.Equal(5, results[0].Items.Count);
        Assert.All(results[0].Items, i => Assert.True(float.IsFinite(i.Score)));
    }

    [Fact]
    public void Recommend_PredictsTheWholeStarsOfTheModelsRatingDecoder_AndTheExpectedRatingWithoutOne()
    {
        var (data, model) = Trained(FastWeightScope.All);
        using var _ = model;
        var sessions = Sessions(data, 4);
        var undecoded = model.WithManifest(m => m with { RatingDecoder = null });
        using var withDecoder = new BatchRecommender(model, data.Items.Values);
        using var without = new BatchRecommender(undecoded, data.Items.Values);

        var stars = withDecoder.Recommend(sessions, steps: 2, topK: 10).SelectMany(r => r.PredictedRatings!).ToArray();
        var expected = without.Recommend(sessions, steps: 2, topK: 10).SelectMany(r => r.PredictedRatings!).ToArray();

        Assert.NotNull(model.Manifest.RatingDecoder);
        Assert.Equal(expected.Select(model.Manifest.RatingDecoder.Decode), stars);
        Assert.Contains(expected, e => e != MathF.Round(e));   // the expected ratings themselves are not whole stars
    }

    private static (RatingsDataset Data, MetaModel Model) Trained(FastWeightScope scope)
    {
        var data = LearningFixtures.Synthetic(users: 200);
        return (data, LearningFixtures.Train(data, LearningFixtures.QuickTraining(scope: scope, epochs: 1)).Model);
    }

    private static UserSession[] Sessions(RatingsDataset data, int count) =>
        MeluProtocol.ExistingItemsTasks(data, data.Users.Keys, seed: 1)
            .Take(count)
            .Select(t => new UserSession(data.Users[t.UserId], t.Support))
            .ToArray();
}

using Streaming.Learning.Inputs;
using Streaming.Learning.Networks;
using Streaming.Learning.Networks.Sequential;
using Streaming.Learning.Serving;
using Streaming.Shared.Data;
using Streaming.Shared.Models;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class SequentialNetworkTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-seq-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    public static TheoryData<string> Networks => new(Gru4RecNetwork.Name, SasRecNetwork.Name);

    [Theory]
    [MemberData(nameof(Networks))]
    public void EncodeUsersAndForward_HaveTheDeclaredShapes_AndServingEqualsForward(string name)
    {
        using var d = NewDisposeScope();
        using var noGrad = no_grad();
        manual_seed(3);
        var (network, items) = Build(name, FastWeightScope.All);
        using var _ = network;
        using var __ = items;
        var inputs = History(users: 3, length: 6, items.Count);

        Tensor all = network.EmbedItems(items);
        Tensor users = network.EncodeUsers(inputs, all);
        var fast = network.InitialFastWeights(users).Select((_, t) => t + (0.1 * randn_like(t)));
        using var catalogue = network.PrepareCatalogue(items);

        Assert.Equal([items.Count, 16L], all.shape);
        Assert.Equal([3L, 32L], users.shape);
        Assert.True(network.Inputs.HasFlag(NetworkInputs.Sequence));
        Assert.Equal(32 * 48 + 32 + 32 + 1, network.FastSpec.StateSize);
        var forward = network.Forward(catalogue.Embeddings, users, fast).Prediction;
        Assert.Equal([3L, items.Count], forward.shape);
        Assert.True(forward.allclose(network.ScoreCatalogue(catalogue, users, fast), rtol: 1e-5, atol: 1e-5));
        // Each user its own items, [users, items, dim].
        Tensor own = all.index_select(0, inputs.HistoryRows.flatten()).reshape(3, 6, -1);
        Assert.Equal([3L, 6L], network.Forward(own, users, fast).Prediction.shape);
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void EncodeUsers_ShuffledHistory_ScoresDifferently_ButPaddingDoesNot(string name)
    {
        using var d = NewDisposeScope();
        using var noGrad = no_grad();
        manual_seed(4);
        var (network, items) = Build(name, FastWeightScope.Last);
        using var _ = network;
        using var __ = items;
        var inputs = History(users: 1, length: 6, items.Count);
        Tensor all = network.EmbedItems(items);
        long[] reversed = [5, 4, 3, 2, 1, 0];
        Tensor order = tensor(reversed);
        var shuffled = inputs with { HistoryRows = inputs.HistoryRows.index_select(1, order), HistoryRatings = inputs.HistoryRatings!.index_select(1, order) };
        // The same history followed by two padding positions.
        var padded = inputs with
        {
            HistoryRows = cat([inputs.HistoryRows, zeros(1, 2, ScalarType.Int64)], 1),
            HistoryMask = cat([inputs.HistoryMask, zeros(1, 2)], 1),
            HistoryRatings = cat([inputs.HistoryRatings!, zeros(1, 2)], 1),
        };

        Tensor Scores(UserInputs u)
        {
            Tensor users = network.EncodeUsers(u, all);
            return network.Forward(all, users, network.InitialFastWeights(users)).Prediction;
        }

        var original = Scores(inputs);
        Assert.True((original - Scores(shuffled)).abs().max().item<float>() > 1e-4, "reversing the history did not change the scores");
        Assert.True(original.allclose(Scores(padded), rtol: 1e-5, atol: 1e-5), "padding changed the scores");
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void EncodeUsers_EmptyHistory_GivesFiniteScores(string name)
    {
        using var d = NewDisposeScope();
        using var noGrad = no_grad();
        var (network, items) = Build(name, FastWeightScope.Bias);
        using var _ = network;
        using var __ = items;
        var empty = new UserInputs(zeros(2, 4, ScalarType.Int64), zeros(2, 1, ScalarType.Int64), zeros(2, 1), zeros(2, 1));
        Tensor all = network.EmbedItems(items);
        Tensor users = network.EncodeUsers(empty, all);

        Assert.True(network.Forward(all, users, network.InitialFastWeights(users)).Prediction.isfinite().all().item<bool>());
    }

    [Fact]
    public void Constructor_ScopeTheHeadDoesNotOffer_IsRefusedNamingIt()
    {
        var error = Assert.Throws<ArgumentException>(() => new Gru4RecNetwork(new Hyperparameters { Scope = FastWeightScope.LowRank, Network = "gru4rec" }, MethodFixtures.VocabularySizes));
        Assert.Contains("lowrank", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gru4rec", "metasgd")]
    [InlineData("sasrec", "metasgd")]
    [InlineData("gru4rec", "melo")]
    [InlineData("sasrec", "mamo")]
    public void Training_OnSyntheticTasks_IsFinite_RoundTripsAndServes(string network, string algorithm)
    {
        var data = LearningFixtures.Synthetic(users: 200);
        var result = LearningFixtures.Train(data, MethodFixtures.Quick(algorithm, network, epochs: 2));
        using var model = result.Model;

        Assert.Equal(network, model.Manifest.Hyperparameters.Network);
        Assert.Equal(algorithm, model.Manifest.Hyperparameters.Method);
        Assert.All(result.History, e => Assert.True(double.IsFinite(e.Validation.Mae)));
        MethodFixtures.AssertFinite(model);
        using var loaded = MethodFixtures.RoundTripAndServe(model, data, directory);
    }

    [Fact]
    public void MetaTraining_Gru4Rec_LowersHeldOutQueryError()
    {
        var data = LearningFixtures.Synthetic();
        using var untrained = LearningFixtures.Train(data, MethodFixtures.Quick("metasgd", "gru4rec", epochs: 0)).Model;
        using var trained = LearningFixtures.Train(data, MethodFixtures.Quick("metasgd", "gru4rec", epochs: 6)).Model;

        double before = MetaTrainingTests.HeldOutMae(untrained, data, steps: 2);
        double after = MetaTrainingTests.HeldOutMae(trained, data, steps: 2);

        Assert.True(after < 0.9 * before, $"held-out MAE {before:F4} -> {after:F4}");
    }

    [Fact]
    public void Recommend_SessionInAnotherOrder_ServesDifferentScores()
    {
        var data = LearningFixtures.Synthetic(users: 200);
        using var model = LearningFixtures.Train(data, MethodFixtures.Quick("metasgd", "sasrec", epochs: 1)).Model;
        using var recommender = new BatchRecommender(model, data.Items.Values);
        var session = MethodFixtures.Sessions(data, 1)[0];
        var reversed = session with { Interactions = [.. session.Interactions.Reverse()] };
        int[] candidates = [.. data.Items.Keys.Order().Take(20)];

        var a = recommender.ScoreCandidates([session], steps: 0, candidates);
        var b = recommender.ScoreCandidates([reversed], steps: 0, candidates);

        Assert.True(a.Zip(b).Max(p => Math.Abs(p.First - p.Second)) > 1e-4);
    }

    private static (SequentialNetwork Network, ItemFeatureTensors Items) Build(string name, FastWeightScope scope)
    {
        var data = LearningFixtures.Synthetic(users: 30);
        var features = FeatureSpace.Build(data.Items.Values, data.Users.Values);
        var hyper = new Hyperparameters { Network = name, Scope = scope, EmbeddingDim = 16, Hidden1 = 32 };
        var sizes = features.Vocabularies.Select(v => v.Size).ToArray();
        SequentialNetwork network = name == Gru4RecNetwork.Name ? new Gru4RecNetwork(hyper, sizes) : new SasRecNetwork(hyper, sizes);
        return (network, new ItemFeatureTensors(features.EncodeItems(data.Items.Values), CPU));
    }

    private static UserInputs History(int users, int length, int catalogue)
    {
        var rows = randint(1, catalogue, [users, length], dtype: ScalarType.Int64);
        var ratings = randint(1, 6, [users, length]).to_type(ScalarType.Float32);
        return new UserInputs(zeros(users, 4, ScalarType.Int64), rows, ones(users, length), ratings);
    }
}

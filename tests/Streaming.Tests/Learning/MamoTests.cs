using Streaming.Learning.Inputs;
using Streaming.Learning.Methods;
using Streaming.Learning.Methods.Mamo;
using Streaming.Learning.Models;
using Streaming.Learning.Networks;
using Streaming.Learning.Networks.Mamo;
using Streaming.Learning.Networks.Melu;
using Streaming.Learning.Serving;
using Streaming.Learning.Training;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using Streaming.Shared.Models;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class MamoTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-mamo-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void InitialFastWeights_AreTheBaseStartMovedByTheAttendedMemory_WithAPreferenceSlot()
    {
        using var d = NewDisposeScope();
        using var noGrad = no_grad();
        manual_seed(2);
        using var network = Mamo(FastWeightScope.All);
        var users = randn(4, network.UserDim);
        using (no_grad())
        {
            network.MemoryValue(network.Base.FastSpec.Slots[0]).normal_();
            network.MemoryPreference.normal_();
        }

        var fast = network.InitialFastWeights(users);
        var start = network.Base.InitialFastWeights(users);
        var attention = network.Attention(users);

        Assert.Equal(network.Base.FastSpec.Slots.Count + 1, network.FastSpec.Slots.Count);
        Assert.Equal([4L, MamoNetwork.MemorySize], attention.shape);
        Assert.True(attention.sum(1).allclose(ones(4)));
        var slot = network.Base.FastSpec.Slots[0];
        var expected = start.Values[0] - (MamoNetwork.Tau * attention.matmul(network.MemoryValue(slot).reshape(MamoNetwork.MemorySize, -1)).reshape(fast.Values[0].shape));
        Assert.True(expected.allclose(fast.Values[0], rtol: 1e-5, atol: 1e-6));
        Assert.Equal([4L, MamoNetwork.PreferenceRank, MamoNetwork.PreferenceRank], fast[network.PreferenceSlot]!.shape);
        // Different users attend differently, so they start from different points.
        Assert.True((fast.Values[0][0] - fast.Values[0][1]).abs().max().item<float>() > 1e-6);
    }

    [Theory]
    [InlineData(FastWeightScope.All)]
    [InlineData(FastWeightScope.LowRank)]
    public void HandWrittenGradient_MatchesAutograd(FastWeightScope scope)
    {
        using var d = NewDisposeScope();
        manual_seed(11);
        using var network = Mamo(scope);
        var (items, users, support) = MethodFixtures.RandomTasks(users: 3, items: 7, network.ItemDim, network.UserDim);
        var loss = new MseLoss();
        var fast = network.InitialFastWeights(users).Select((_, t) => (t + (0.05 * randn_like(t))).detach().requires_grad_(true));

        var pass = network.Forward(items, users, fast);
        var expected = autograd.grad([loss.PerUser(pass.Prediction, support).sum()], fast.Values.ToArray());
        var actual = network.HandWrittenGradient!.Backward(pass, loss.Gradient(pass, support)!, fast);

        foreach (var slot in network.FastSpec.Slots)
        {
            Assert.True(expected[slot.Index].allclose(actual[slot]!, rtol: 1e-4, atol: 1e-5),
                $"{slot.Name}: max difference {(expected[slot.Index] - actual[slot]!).abs().max().item<float>()}");
        }
    }

    [Fact]
    public void ScoreCatalogue_EqualsTheGeneralForward()
    {
        using var d = NewDisposeScope();
        using var noGrad = no_grad();
        manual_seed(3);
        var data = LearningFixtures.Synthetic(users: 30);
        var features = FeatureSpace.Build(data.Items.Values, data.Users.Values);
        using var network = new MamoNetwork(new MeluNetwork(new Hyperparameters { EmbeddingDim = 8, Hidden1 = 16, Hidden2 = 12 }, features.Vocabularies.Select(v => v.Size).ToArray()));
        using var items = new ItemFeatureTensors(features.EncodeItems(data.Items.Values), CPU);
        using var catalogue = network.PrepareCatalogue(items);
        var users = randn(5, network.UserDim);
        var fast = network.InitialFastWeights(users).Select((_, t) => t + (0.1 * randn_like(t)));

        var expected = network.Forward(catalogue.Embeddings, users, fast).Prediction;
        var actual = network.ScoreCatalogue(catalogue, users, fast);

        Assert.True(expected.allclose(actual, rtol: 1e-4, atol: 1e-5), $"max difference {(expected - actual).abs().max().item<float>()}");
    }

    [Fact]
    public void WriteMemories_MoveEveryMemoryTowardTheAdaptedUsers()
    {
        using var d = NewDisposeScope();
        manual_seed(5);
        using var network = Mamo(FastWeightScope.Last);
        var users = randn(16, network.UserDim);
        var start = network.InitialFastWeights(users);
        // Adapted users: every slot displaced by a known amount.
        var adapted = start.Select((_, t) => (t - 0.5).detach());
        var slot = network.Base.FastSpec.Slots[0];
        var attention = network.Attention(users).detach();
        var share = attention / attention.sum(0, keepdim: true);
        Tensor TargetOf(Tensor perUser) => share.t().matmul(perUser.reshape(16, -1));
        var baseStart = network.Base.InitialFastWeights(users);
        var valueTarget = TargetOf(baseStart.Values[0] - adapted.Values[0]);
        var preferenceTarget = TargetOf(adapted[network.PreferenceSlot]!);
        var keyTarget = TargetOf(users);

        double valueBefore = Distance(network.MemoryValue(slot), valueTarget);
        double preferenceBefore = Distance(network.MemoryPreference, preferenceTarget);
        double keysBefore = Distance(network.MemoryKeys, keyTarget);
        network.WriteMemories(users, adapted);

        Assert.True(Distance(network.MemoryValue(slot), valueTarget) < valueBefore);
        Assert.True(Distance(network.MemoryPreference, preferenceTarget) < preferenceBefore);
        Assert.True(Distance(network.MemoryKeys, keyTarget) < keysBefore);
    }

    [Fact]
    public void Training_WritesTheMemories_ServingAndEvaluationOnlyReadThem()
    {
        var data = LearningFixtures.Synthetic(users: 200);
        var result = LearningFixtures.Train(data, MethodFixtures.Quick("mamo", epochs: 2));
        using var model = result.Model;
        var mamo = Assert.IsType<MamoNetwork>(model.Network);
        Assert.True(mamo.MemoryPreference.abs().sum().item<float>() > 0, "training never wrote the task memory");
        Assert.True(mamo.MemoryValue(mamo.Base.FastSpec.Slots[0]).abs().sum().item<float>() > 0, "training never wrote the value memory");
        var before = MemoryBytes(mamo);

        using (var recommender = new BatchRecommender(model, data.Items.Values))
        {
            recommender.Recommend(MethodFixtures.Sessions(data, 8), steps: 2, topK: 5);
            recommender.AdaptFastState(MethodFixtures.Sessions(data, 8), steps: 2);
        }

        MetaTrainingTests.HeldOutMae(model, data, steps: 2);
        var table = model.Features.EncodeItems(data.Items.Values.OrderBy(i => i.ItemId));
        using var items = new ItemFeatureTensors(table, CPU);
        using var learner = new MetaLearner(model.Module, items, firstOrder: true);
        using var batch = TaskBatch.Create(MeluProtocol.ExistingItemsTasks(data, data.Users.Keys, 1), table, model.Features, data.Users, CPU);
        learner.Evaluate(batch, 2, new MetricAccumulator());

        Assert.Equal(before, MemoryBytes(mamo));
    }

    [Fact]
    public void Model_TrainsToFiniteWeights_RoundTripsItsMemoriesAndServes()
    {
        var data = LearningFixtures.Synthetic(users: 200);
        using var model = LearningFixtures.Train(data, MethodFixtures.Quick("mamo", epochs: 2)).Model;
        MethodFixtures.AssertFinite(model);
        Assert.Contains(model.Module.named_parameters(), p => p.name == "network.memory_preference");
        Assert.All(model.Module.named_parameters().Where(p => p.name.StartsWith("network.memory_", StringComparison.Ordinal)), p => Assert.False(p.parameter.requires_grad));

        using var loaded = MethodFixtures.RoundTripAndServe(model, data, directory);

        Assert.Equal(MemoryBytes((MamoNetwork)model.Network), MemoryBytes(Assert.IsType<MamoNetwork>(loaded.Network)));
        Assert.Equal("mamo", loaded.Manifest.Hyperparameters.Method);
        Assert.Equal(model.Network.FastSpec.StateSize, loaded.Module.FastStateSize);
    }

    [Fact]
    public void Method_WrapsTheNetworkOnce_AndUsesLearnedPerParameterRates()
    {
        using var module = new MetaModule(new MeluNetwork(new Hyperparameters { Scope = FastWeightScope.Last }, MethodFixtures.VocabularySizes), new MamoMethod());

        var network = Assert.IsType<MamoNetwork>(module.Network);
        Assert.IsType<MeluNetwork>(network.Base);
        Assert.IsType<PerParameterRates>(module.Rates);
        Assert.Equal(65 + (MamoNetwork.PreferenceRank * MamoNetwork.PreferenceRank), module.FastStateSize);
    }

    private static MamoNetwork Mamo(FastWeightScope scope) =>
        new(new MeluNetwork(new Hyperparameters { Scope = scope, EmbeddingDim = 8, Hidden1 = 16, Hidden2 = 12, Rank = 3 }, MethodFixtures.VocabularySizes));

    private static double Distance(Tensor memory, Tensor target) => (memory.reshape(memory.shape[0], -1) - target).norm().item<float>();

    private static byte[] MemoryBytes(MamoNetwork network) => ModelFile.WriteWeights(
        network.named_parameters().Where(p => p.name.StartsWith("memory_", StringComparison.Ordinal))
            .Select(p => new StoredParameter(p.name, p.parameter.shape, p.parameter.detach().cpu().contiguous().data<float>().ToArray())).ToArray());
}

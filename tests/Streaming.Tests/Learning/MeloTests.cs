using Streaming.Learning.Inputs;
using Streaming.Learning.Methods;
using Streaming.Learning.Methods.Melo;
using Streaming.Learning.Networks.Melu;
using Streaming.Learning.Training;
using Streaming.Shared.Data;
using Streaming.Shared.Models;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class MeloTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-melo-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void SampleWeights_StartAtOne_SoTheLossStartsAsMse()
    {
        using var d = NewDisposeScope();
        manual_seed(1);
        using var loss = new MeloLoss();
        var (_, _, support) = MethodFixtures.RandomTasks(users: 3, items: 6, itemDim: 1, userDim: 1);
        var prediction = randn(3, 6) + 3;

        var weights = loss.SampleWeights(prediction, support);

        Assert.Equal([3L, 6L], weights.shape);
        Assert.True(weights.allclose(support.Mask));
        Assert.True(loss.PerUser(prediction, support).allclose(new MseLoss().PerUser(prediction, support), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void PredictionGradient_MatchesAutograd()
    {
        using var d = NewDisposeScope();
        manual_seed(2);
        using var loss = new MeloLoss();
        // Non-trivial weights: perturb the weighting network away from its all-ones start.
        using (no_grad())
        {
            foreach (var p in loss.parameters())
            {
                p.add_(0.5 * randn_like(p));
            }
        }

        var (_, _, support) = MethodFixtures.RandomTasks(users: 4, items: 7, itemDim: 1, userDim: 1);
        var prediction = (randn(4, 7) + 3).requires_grad_(true);

        var expected = autograd.grad([loss.PerUser(prediction, support).sum()], [prediction])[0];
        var actual = loss.PredictionGradient(prediction, support);

        Assert.True(expected.allclose(actual, rtol: 1e-4, atol: 1e-6), $"max difference {(expected - actual).abs().max().item<float>()}");
        Assert.True(loss.SampleWeights(prediction, support).std().item<float>() > 1e-3);
    }

    [Fact]
    public void Method_UsesLslrRates_TheMultiStepLoss_AndAPlainMseOuterLoss()
    {
        using var module = new MetaModule(new MeluNetwork(new Hyperparameters { Scope = FastWeightScope.Last }, MethodFixtures.VocabularySizes), new MeloMethod());

        Assert.IsType<MeloLoss>(module.Loss);
        Assert.IsType<MseLoss>(module.OuterLoss);
        Assert.IsType<PerLayerPerStepRates>(module.Rates);
        Assert.True(module.Method.MultiStepLoss);
        Assert.True(module.Method.SecondOrder);
        Assert.Contains(module.named_parameters(), p => p.name.StartsWith("loss.weight_in", StringComparison.Ordinal));
    }

    [Fact]
    public void Training_LearnsWeightsThatDifferAcrossSamples()
    {
        var data = LearningFixtures.Synthetic(users: 300);
        using var model = LearningFixtures.Train(data, MethodFixtures.Quick("melo", epochs: 3)).Model;
        var loss = Assert.IsType<MeloLoss>(model.Module.Loss);
        var tasks = MeluProtocol.ExistingItemsTasks(data, data.Users.Keys, seed: 1).Take(16).ToArray();
        var table = model.Features.EncodeItems(data.Items.Values.OrderBy(i => i.ItemId));
        using var items = new ItemFeatureTensors(table, CPU);
        using var batch = TaskBatch.Create(tasks, table, model.Features, data.Users, CPU);
        using var d = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor all = model.Network.EmbedItems(items);
        Tensor users = model.Network.EncodeUsers(batch.Users, all);
        Tensor support = all.index_select(0, batch.SupportRows.flatten()).reshape(batch.SupportRows.shape[0], batch.SupportRows.shape[1], -1);
        var prediction = model.Network.Forward(support, users, model.Network.InitialFastWeights(users)).Prediction;

        var weights = loss.SampleWeights(prediction, batch.SupportTargets);
        var real = weights.masked_select(batch.SupportMask.gt(0));

        Assert.True(real.std().item<float>() > 1e-3, $"weights spread {real.std().item<float>()}");
        Assert.True((real.max() - real.min()).item<float>() > 0.01);
    }

    [Fact]
    public void Model_TrainsToFiniteWeights_RoundTripsItsWeightingNetworkAndServes()
    {
        var data = LearningFixtures.Synthetic(users: 200);
        var result = LearningFixtures.Train(data, MethodFixtures.Quick("melo", epochs: 2));
        using var model = result.Model;
        MethodFixtures.AssertFinite(model);
        Assert.All(result.History, e => Assert.True(double.IsFinite(e.Validation.Mae)));
        Assert.NotNull(result.History[^1].Validation.MaeByRating);

        using var loaded = MethodFixtures.RoundTripAndServe(model, data, directory);
        Assert.IsType<MeloLoss>(loaded.Module.Loss);
    }
}

using Streaming.Learning.Methods;
using Streaming.Learning.Networks.Melu;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using Streaming.Learning.Inputs;
using Streaming.Learning.Models;
using Streaming.Learning.Training;
using Streaming.Shared.Models;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class MetaTrainingTests
{
    [Fact]
    public void MetaTraining_OnSyntheticTasks_LowersHeldOutQueryError()
    {
        var data = LearningFixtures.Synthetic();
        using var untrained = LearningFixtures.Train(data, LearningFixtures.QuickTraining(epochs: 0)).Model;
        using var trained = LearningFixtures.Train(data, LearningFixtures.QuickTraining(epochs: 10)).Model;

        double before = HeldOutMae(untrained, data, steps: 2);
        double after = HeldOutMae(trained, data, steps: 2);

        Assert.True(after < 0.85 * before, $"held-out MAE {before:F4} -> {after:F4}");
    }

    [Fact]
    public void Adaptation_OnUsersWithIndividualTastes_BeatsTheUnadaptedInitialisation()
    {
        var data = LearningFixtures.Synthetic();
        using var trained = LearningFixtures.Train(data, LearningFixtures.QuickTraining(epochs: 10)).Model;

        double unadapted = HeldOutMae(trained, data, steps: 0);
        double adapted = HeldOutMae(trained, data, steps: 2);

        Assert.True(adapted < unadapted - 0.01, $"MAE without adaptation {unadapted:F4}, with {adapted:F4}");
    }

    [Fact]
    public void Training_WritesARatingDecoder_WhoseWholeStarsLowerHeldOutMae()
    {
        var data = LearningFixtures.Synthetic();
        using var trained = LearningFixtures.Train(data, LearningFixtures.QuickTraining(epochs: 10)).Model;
        var record = trained.Manifest.Training;
        var split = MeluProtocol.SplitUsers(data.Ratings.Select(r => r.UserId).Distinct(), record.ValidationFraction, record.TestFraction, record.SplitSeed);

        var decoder = trained.Manifest.RatingDecoder;
        var heldOut = MetaTraining.Evaluate(trained, MeluProtocol.ExistingItemsTasks(data, split.Test, seed: 1), data.Items, data.Users);

        Assert.NotNull(decoder);
        Assert.Null(decoder.Problem());
        Assert.True(heldOut.Mae < heldOut.MaeOfExpected, $"MAE of whole stars {heldOut.Mae:F4}, of the expected ratings {heldOut.MaeOfExpected:F4}");
    }

    [Fact]
    public void MetaSgd_LearnsNonUniformRatesAwayFromTheirStart()
    {
        var data = LearningFixtures.Synthetic();
        var options = LearningFixtures.QuickTraining("metasgd", epochs: 3);
        using var trained = LearningFixtures.Train(data, options).Model;
        float start = options.Hyperparameters.InnerLearningRate;

        var rates = trained.Module.Rates.Learned;
        Assert.Equal(trained.Network.FastSpec.Slots.Select(s => "alpha_" + s.Name).Order(), rates.Keys.Order());
        var all = cat(rates.Values.Select(r => r.detach().flatten()).ToArray());
        double meanChange = (all - start).abs().mean().item<float>();
        double spread = all.std().item<float>();

        Assert.True(meanChange > 1e-3, $"rates moved by {meanChange} on average");
        Assert.True(spread > 1e-3, $"rates are uniform (std {spread})");
    }

    [Fact]
    public void Training_WithTheSameSeed_IsDeterministic()
    {
        var data = LearningFixtures.Synthetic(users: 200);
        using var a = LearningFixtures.Train(data, LearningFixtures.QuickTraining(epochs: 1)).Model;
        using var b = LearningFixtures.Train(data, LearningFixtures.QuickTraining(epochs: 1)).Model;
        using var c = LearningFixtures.Train(data, LearningFixtures.QuickTraining(epochs: 1) with { Seed = 4 }).Model;

        Assert.Equal(LearningFixtures.WeightBytes(a), LearningFixtures.WeightBytes(b));
        Assert.NotEqual(LearningFixtures.WeightBytes(a), LearningFixtures.WeightBytes(c));
    }

    [Theory]
    [InlineData("maml", FastWeightScope.All)]
    [InlineData("fomaml", FastWeightScope.Last)]
    [InlineData("lslr", FastWeightScope.Bias)]
    [InlineData("metasgd", FastWeightScope.LowRank)]
    [InlineData("lslr", FastWeightScope.Context)]
    public void EveryAlgorithmAndScope_TrainsToFiniteWeightsAndValidationMetrics(string algorithm, FastWeightScope scope)
    {
        var data = LearningFixtures.Synthetic(users: 200);
        var result = LearningFixtures.Train(data, LearningFixtures.QuickTraining(algorithm, scope, epochs: 1));
        using var model = result.Model;

        Assert.Single(result.History);
        Assert.True(double.IsFinite(result.History[0].Validation.Mae));
        Assert.All(model.Network.parameters(), p => Assert.True(p.isfinite().all().item<bool>()));
    }

    [Fact]
    public void Anil_AddedAsOneMethodClass_TrainsOnlyTheOutputLayerPerUserAndIsRecordedInTheModel()
    {
        var data = LearningFixtures.Synthetic(users: 200);
        using var model = LearningFixtures.Train(data, LearningFixtures.QuickTraining("anil", FastWeightScope.All, epochs: 1)).Model;

        Assert.Equal("anil", model.Manifest.Hyperparameters.Method);
        Assert.Equal(FastWeightScope.Last, model.Manifest.Hyperparameters.Scope);
        Assert.Equal(["W3", "b3"], model.Network.FastSpec.Slots.Select(s => s.Name));
        Assert.Equal(17, model.Module.FastStateSize);   // Hidden2 = 16 weights and a bias
        Assert.IsType<FixedRate>(model.Module.Rates);
    }

    [Theory]
    [InlineData(FastWeightScope.LowRank)]
    [InlineData(FastWeightScope.Context)]
    [InlineData(FastWeightScope.Bias)]
    [InlineData(FastWeightScope.Last)]
    public void CompactScopes_KeepPerUserStateWithinFourKilobytes(FastWeightScope scope)
    {
        using var network = new MeluNetwork(new Hyperparameters { Scope = scope }, [6, 19, 30, 40, 3, 8, 22, 12]);
        Assert.InRange(network.FastSpec.StateSize * sizeof(float), 1, 4096);
        using var full = new MeluNetwork(new Hyperparameters { Scope = FastWeightScope.All }, [6, 19, 30, 40, 3, 8, 22, 12]);
        Assert.Equal(20_673, full.FastSpec.StateSize);
    }

    [Fact]
    public void MultiStepWeights_AnnealTowardsTheLastStep()
    {
        var first = MetaTraining.MultiStepWeights(5, epoch: 1, annealEpochs: 10);
        var late = MetaTraining.MultiStepWeights(5, epoch: 20, annealEpochs: 10);

        Assert.All(first, w => Assert.Equal(0.2f, w, 4));
        Assert.Equal(1f, late.Sum(), 4);
        Assert.True(late[^1] > 0.95f);
    }

    /// <summary>MAE on the synthetic set's held-out test users (existing items), adapted with <paramref name="steps"/> steps.</summary>
    internal static double HeldOutMae(MetaModel model, RatingsDataset data, int steps)
    {
        var record = model.Manifest.Training;
        var split = MeluProtocol.SplitUsers(data.Ratings.Select(r => r.UserId).Distinct(), record.ValidationFraction, record.TestFraction, record.SplitSeed);
        var tasks = MeluProtocol.ExistingItemsTasks(data, split.Test, seed: 1);
        Assert.NotEmpty(tasks);
        var table = model.Features.EncodeItems(data.Items.Values.OrderBy(i => i.ItemId));
        using var items = new ItemFeatureTensors(table, CPU);
        using var copy = model.Clone();
        using var learner = new MetaLearner(copy.Module, items, firstOrder: true);
        using var batch = TaskBatch.Create(tasks, table, model.Features, data.Users, CPU);
        var metrics = new MetricAccumulator();
        learner.Evaluate(batch, steps, metrics);
        return metrics.Result().Mae;
    }
}

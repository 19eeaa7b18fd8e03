using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using Streaming.Learning.Training;
using Streaming.Shared.Models;
using Streaming.Tests.Data;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

/// <summary>Short runs on the real MovieLens-1M copy (skipped, saying so, where it is absent outside CI).</summary>
[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class MovieLensLearningTests(MovieLensFixture fixture) : IClassFixture<MovieLensFixture>
{
    [Fact]
    public void OneEpochOnMovieLens_BeatsTheGlobalMeanOnHeldOutUsers()
    {
        var data = fixture.Require();
        var options = new TrainingOptions
        {
            Hyperparameters = new Hyperparameters { InnerSteps = 2 },
            Epochs = 1,
        };
        using var model = MetaTraining.Run(data, options, CPU, TimeProvider.System, new DataSplit { MaxTrainUsers = 600 }, cancellationToken: TestContext.Current.CancellationToken).Model;

        double ours = MetaTrainingTests.HeldOutMae(model, data, steps: 2);
        var record = model.Manifest.Training;
        var split = MeluProtocol.SplitUsers(data.Ratings.Select(r => r.UserId).Distinct(), record.ValidationFraction, record.TestFraction, record.SplitSeed);
        var train = MeluProtocol.WarmStateTasks(data, split.Train, 1).SelectMany(t => t.Support.Concat(t.Query));
        double globalMean = Evaluator.Evaluate(new GlobalMeanPredictor(train), MeluProtocol.ExistingItemsTasks(data, split.Test, seed: 1)).Mae;

        Assert.True(ours < globalMean - 0.03, $"meta-model MAE {ours:F4}, global mean {globalMean:F4}");
    }

    [Fact]
    public void Vocabularies_FromMovieLensTrainingItems_MapNewItemsUnseenCastToUnknown()
    {
        var data = fixture.Require();
        var protocol = new ProtocolOptions();
        var existing = data.Items.Values.Where(i => MeluProtocol.IsExistingItem(i, protocol)).ToArray();
        var space = FeatureSpace.Build(existing, data.Users.Values);
        var table = space.EncodeItems(data.Items.Values.Where(i => MeluProtocol.IsNewItem(i, protocol)));

        double unknownShare = table.Actors.Indices.Zip(table.Actors.Weights).Where(p => p.Second > 0).Average(p => p.First == FeatureVocabulary.Unknown ? 1.0 : 0.0);
        Assert.InRange(unknownShare, 0.2, 0.95);
    }
}

using Streaming.Shared.Data;
using Streaming.Learning.Training;
using Streaming.Shared.Models;
using Streaming.Tests.Learning;
using static TorchSharp.torch;

namespace Streaming.Tests.MetaTrainer;

[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class ContinuedTrainingTests
{
    private static readonly RatingsDataset Data = LearningFixtures.Synthetic();

    [Fact]
    public void Continue_FromAnUntrainedModel_LowersValidationErrorKeepsTheVocabulariesAndLeavesTheInitialModelUnchanged()
    {
        using var initial = LearningFixtures.Train(Data, LearningFixtures.QuickTraining(epochs: 0)).Model;
        byte[] before = LearningFixtures.WeightBytes(initial);
        var (train, validation) = Tasks();

        var result = MetaTraining.Run(Sessions(train, validation), Options(epochs: 4), initial, CPU, TimeProvider.System, cancellationToken: TestContext.Current.CancellationToken);

        using var model = result.Model;
        Assert.NotNull(result.InitialValidation);
        Assert.NotNull(model.Manifest.Validation);
        Assert.True(model.Manifest.Validation.Mae < 0.9 * result.InitialValidation.Mae, $"validation MAE {result.InitialValidation.Mae:F4} -> {model.Manifest.Validation.Mae:F4}");
        Assert.Equal(initial.Features.ToJson(), model.Features.ToJson());
        Assert.Equal(initial.Module.Hyper, model.Module.Hyper);
        Assert.Equal(before, LearningFixtures.WeightBytes(initial));
        Assert.NotEqual(before, LearningFixtures.WeightBytes(model));
        Assert.Equal(train.Count, model.Manifest.Training.TrainUsers);
        Assert.NotNull(model.Manifest.Onboarding);
        Assert.NotEmpty(model.Manifest.Onboarding.Evidence);
    }

    [Fact]
    public void Continue_WhenTheFirstEpochSpendsTheTimeBudget_StopsAfterItWithTheBestSoFar()
    {
        var (train, validation) = Tasks();

        var result = MetaTraining.Run(Sessions(train, validation), Options(epochs: 5) with { TimeBudget = TimeSpan.Zero }, initial: null, CPU, TimeProvider.System, cancellationToken: TestContext.Current.CancellationToken);

        using var model = result.Model;
        Assert.True(result.BudgetExhausted);
        Assert.Single(result.History);
        Assert.Equal(1, model.Manifest.Training.BestEpoch);
        Assert.Null(result.InitialValidation);
    }

    [Fact]
    public void Resplit_KeepsEveryRatingAndTheQuerySizeAndDependsOnTheSeed()
    {
        var (train, _) = Tasks();

        var a = MeluProtocol.Resplit(train, 10, seed: 1);
        var b = MeluProtocol.Resplit(train, 10, seed: 2);

        Assert.All(a.Zip(train), p =>
        {
            Assert.Equal(10, p.First.Query.Count);
            Assert.Equal(p.Second.Support.Concat(p.Second.Query).OrderBy(r => r.ItemId), p.First.Support.Concat(p.First.Query).OrderBy(r => r.ItemId));
        });
        Assert.NotEqual(a[0].Query.Select(r => r.ItemId), b[0].Query.Select(r => r.ItemId));
    }

    [Fact]
    public void Resplit_KeepsTheInteractionOrderInSupportAndQuery()
    {
        var (train, _) = Tasks();

        foreach (var (split, task) in MeluProtocol.Resplit(train, 10, seed: 4).Zip(train))
        {
            // The task's ratings in order; each new set is a subsequence of it (a sequential network reads that order).
            var order = task.Support.Concat(task.Query).Select((r, i) => (r.ItemId, i)).ToDictionary(x => x.ItemId, x => x.i);
            var support = split.Support.Select(r => order[r.ItemId]).ToArray();
            var query = split.Query.Select(r => order[r.ItemId]).ToArray();
            Assert.Equal(support.Order(), support);
            Assert.Equal(query.Order(), query);
        }
    }

    private static SampledSessionTasks Sessions(IReadOnlyList<UserTask> train, IReadOnlyList<UserTask> validation) =>
        new(train, validation, Data.Items, Data.Users, queryCount: 10, new TrainingRecord());

    private static TrainingOptions Options(int epochs) => new()
    {
        Hyperparameters = LearningFixtures.QuickTraining().Hyperparameters,
        Epochs = epochs,
        Patience = epochs,
        Seed = 3,
    };

    private static (IReadOnlyList<UserTask> Train, IReadOnlyList<UserTask> Validation) Tasks()
    {
        var split = MeluProtocol.SplitUsers(Data.Users.Keys, 0.2, 0, 5);
        return (MeluProtocol.WarmStateTasks(Data, split.Train, 1), MeluProtocol.WarmStateTasks(Data, split.Validation, 1));
    }
}

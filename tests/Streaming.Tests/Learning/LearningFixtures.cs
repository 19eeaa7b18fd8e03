using Streaming.Shared.Data;
using Streaming.Learning.Models;
using Streaming.Learning.Training;
using Streaming.Shared.Models;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

/// <summary>Small synthetic models and data for the learning tests (CPU, seeded).</summary>
internal static class LearningFixtures
{
    public static RatingsDataset Synthetic(int users = 400, int seed = 7) =>
        SyntheticDataset.Generate(new SyntheticOptions(Users: users, Items: 200, Seed: seed));

    public static TrainingOptions QuickTraining(string algorithm = "metasgd", FastWeightScope scope = FastWeightScope.All, int epochs = 3) => new()
    {
        Hyperparameters = new Hyperparameters { Method = algorithm, Scope = scope, InnerSteps = 2, EmbeddingDim = 16, Hidden1 = 32, Hidden2 = 16, MetaLearningRate = 1e-2f, MetaBatchSize = 8 },
        Epochs = epochs,
        Patience = epochs,
        Seed = 3,
    };

    public static TrainingResult Train(RatingsDataset data, TrainingOptions options, DataSplit? split = null) =>
        MetaTraining.Run(data, options, CPU, TimeProvider.System, split);

    /// <summary>A model's weights as the model file stores them, for comparing two models exactly.</summary>
    public static byte[] WeightBytes(MetaModel model) => ModelFile.WriteWeights(Weights.Snapshot(model.Module));
}

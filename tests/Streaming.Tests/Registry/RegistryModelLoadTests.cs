using Streaming.Cli.Commands;
using Streaming.Learning.Methods;
using Streaming.Learning.Models;
using Streaming.Learning.Training;
using Streaming.Shared.Models;
using Streaming.Shared.Registry;
using Streaming.Tests.Learning;
using static TorchSharp.torch;

namespace Streaming.Tests.Registry;

/// <summary>Real models (TorchSharp) through the registry: what <c>train --registry</c> pushes, an Adapter can load.</summary>
[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class RegistryModelLoadTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-registry-torch-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public async Task Train_WithRegistryAndPromote_PushesALoadableActiveVersion()
    {
        string registry = Path.Combine(directory, "registry");
        string model = Path.Combine(directory, "m.model");
        var options = LearningFixtures.QuickTraining(epochs: 1);

        Assert.Equal(0, TrainCommand.Run("synthetic", model, options, "cpu", new ModelsCommand.RegistryPush(registry, Promote: true), new DataSplit { MaxTrainUsers = 60 }));

        await using var store = new FileSystemModelRegistry(registry);
        var routing = await store.GetRoutingAsync(TestContext.Current.CancellationToken);
        Assert.Equal("v1", routing.Active);
        var registered = await store.FindAsync("v1", TestContext.Current.CancellationToken);
        Assert.NotNull(registered);
        Assert.StartsWith("synthetic", registered.Training.Data, StringComparison.Ordinal);
        Assert.NotNull(registered.Metric(MetricNames.ValidationMae));
        Assert.StartsWith("streaming train", registered.Source, StringComparison.Ordinal);

        byte[] bytes = await store.DownloadAsync("v1", TestContext.Current.CancellationToken);
        Assert.Equal(await File.ReadAllBytesAsync(model, TestContext.Current.CancellationToken), bytes);
        using var loaded = MetaModel.Load(bytes, "registry v1", CPU);
        Assert.Equal(registered.WeightsSha256, loaded.Manifest.WeightsSha256);
        Assert.Equal(registered.Hyperparameters, loaded.Manifest.Hyperparameters);
    }

    [Fact]
    public void Train_WithPromoteAndCanary_FailsBeforeTraining()
    {
        string model = Path.Combine(directory, "never.model");

        var both = Assert.Throws<ArgumentException>(() => TrainCommand.Run("synthetic", model, LearningFixtures.QuickTraining(epochs: 1), "cpu", new ModelsCommand.RegistryPush(directory, Promote: true, CanaryPercent: 5)));

        Assert.Contains("exclude each other", both.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(model));
    }

    [Fact]
    public void Inspect_RealModelFile_AgreesWithLoad()
    {
        string path = SaveFreshModel();
        byte[] bytes = File.ReadAllBytes(path);

        var inspected = ModelFile.Inspect(bytes, path);

        using var loaded = MetaModel.Load(path, CPU);
        Assert.Equal(loaded.Manifest.WeightsSha256, inspected.WeightsSha256);
        Assert.Equal(loaded.Manifest.Hyperparameters, inspected.Hyperparameters);
        Assert.Equal(loaded.Module.named_parameters().Select(p => p.name), inspected.Parameters.Select(p => p.Name));
    }

    [Fact]
    public void Inspect_RealModelWithANaNWeight_IsRefusedLikeLoad()
    {
        using var model = FreshModel();
        using (no_grad())
        {
            model.Network.parameters().Last().view(-1)[0] = float.NaN;
        }

        string path = Path.Combine(directory, "nan.model");
        model.Save(path);

        var error = Assert.Throws<InvalidDataException>(() => ModelFile.Inspect(File.ReadAllBytes(path), path));
        Assert.Contains("NaN", error.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => MetaModel.Load(path, CPU));
    }

    private string SaveFreshModel()
    {
        using var model = FreshModel();
        string path = Path.Combine(directory, $"{Guid.NewGuid():N}.model");
        model.Save(path);
        return path;
    }

    private static MetaModel FreshModel()
    {
        var data = LearningFixtures.Synthetic(users: 50);
        var features = Streaming.Shared.Data.FeatureSpace.Build(data.Items.Values, data.Users.Values);
        manual_seed(5);
        var module = new MetaModule(new Hyperparameters { EmbeddingDim = 4, Hidden1 = 8, Hidden2 = 4 }, features);
        return MetaModel.Unsaved(module, features, new TrainingRecord(), validation: null, new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));
    }
}

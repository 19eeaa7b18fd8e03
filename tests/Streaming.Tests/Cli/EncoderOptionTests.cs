using System.CommandLine;
using Streaming.Cli.Commands;
using Streaming.Learning.Models;
using Streaming.Learning.Training;
using static TorchSharp.torch;

namespace Streaming.Tests.Cli;

[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class EncoderOptionTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-encoder-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Theory]
    [InlineData("melo", "gru4rec")]
    [InlineData("mamo", "SASRec")]
    public void Train_WithEncoder_RecordsTheNetworkAndTheMethodInTheModelFile(string algo, string encoder)
    {
        string model = Path.Combine(directory, $"{algo}.model");
        string[] args =
        [
            "--data", "synthetic", "--out", model, "--algo", algo, "--encoder", encoder, "--epochs", "1", "--steps", "1", "--max-users", "60",
        ];

        int exit = TrainCommand.Create().Parse(args).Invoke();

        Assert.Equal(0, exit);
        using var loaded = MetaModel.Load(model, CPU);
        Assert.Equal(encoder.ToLowerInvariant(), loaded.Manifest.Hyperparameters.Network);
        Assert.Equal(algo, loaded.Manifest.Hyperparameters.Method);
    }

    [Fact]
    public void Train_WithNoNetworkAndNoMethod_TrainsTheDefaultRecipeWithTheSettingsGiven()
    {
        string model = Path.Combine(directory, "default.model");
        string[] args = ["--data", "synthetic", "--out", model, "--epochs", "1", "--max-users", "60"];

        Assert.Equal(0, TrainCommand.Create().Parse(args).Invoke());
        using var loaded = MetaModel.Load(model, CPU);
        var recipe = TrainingRecipe.Default.Hyperparameters;
        Assert.Equal(recipe.Network, loaded.Manifest.Hyperparameters.Network);
        Assert.Equal(recipe.Method, loaded.Manifest.Hyperparameters.Method);
        Assert.Equal(recipe.InnerSteps, loaded.Manifest.Hyperparameters.InnerSteps);
        Assert.Equal(recipe.MetaLearningRate, loaded.Manifest.Hyperparameters.MetaLearningRate);
        Assert.Equal(1, loaded.Manifest.Training.Epochs);   // --epochs given: it replaces the recipe's
    }

    [Fact]
    public void Train_WithAMethodButNoNetwork_UsesTheMeluNetworkAndItsSettings()
    {
        string model = Path.Combine(directory, "metasgd.model");
        string[] args = ["--data", "synthetic", "--out", model, "--algo", "metasgd", "--epochs", "1", "--max-users", "60"];

        Assert.Equal(0, TrainCommand.Create().Parse(args).Invoke());
        using var loaded = MetaModel.Load(model, CPU);
        Assert.Equal("melu", loaded.Manifest.Hyperparameters.Network);
        Assert.Equal(new Streaming.Shared.Models.Hyperparameters().InnerSteps, loaded.Manifest.Hyperparameters.InnerSteps);
    }

    [Fact]
    public void Train_WithAnUnknownEncoder_FailsNamingTheRegisteredOnes()
    {
        string[] args = ["--data", "synthetic", "--out", Path.Combine(directory, "x.model"), "--encoder", "bert4rec-nonexistent"];

        var error = Assert.Throws<ArgumentException>(() => TrainCommand.Create().Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }));
        Assert.Contains("gru4rec", error.Message, StringComparison.Ordinal);
    }
}

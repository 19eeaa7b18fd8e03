using System.Text.Json;
using Streaming.Cli.Commands;
using Streaming.Learning;
using Streaming.Learning.Evaluation;
using Streaming.Learning.Training;
using Streaming.Shared.Models;

namespace Streaming.Tests.Cli;

[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class TrainEvalCommandTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-cli-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void TrainThenEval_OnSyntheticData_WritesBothPartitionsAndEveryBaseline()
    {
        string model = Path.Combine(directory, "m.model");
        string json = Path.Combine(directory, "eval.json");
        var options = new TrainingOptions
        {
            Hyperparameters = new Hyperparameters { InnerSteps = 2, EmbeddingDim = 8, Hidden1 = 16, Hidden2 = 8 },
            Epochs = 2,
        };

        Assert.Equal(0, TrainCommand.Run("synthetic", model, options, "cpu"));
        Assert.Equal(0, EvalCommand.Run("synthetic", model, new EvaluationOptions { PlainEpochs = 1 }, "cpu", json));

        using var report = JsonDocument.Parse(File.ReadAllText(json));
        var root = report.RootElement;
        Assert.StartsWith("held-out test users", root.GetProperty("users").GetString(), StringComparison.Ordinal);
        AssertPartitions(root);
        var baselines = root.GetProperty("baselines");
        foreach (var name in new[] { "global_mean", "item_mean", "support_mean", "support_mean_rounded", "meta_init_no_adaptation", "plain_network_finetuned" })
        {
            AssertPartitions(baselines.GetProperty(name));
        }

        // The model's MAE is of whole stars, and the MAE of its expected ratings is reported next to it.
        foreach (var partition in new[] { "existing_items_new_users", "new_items_new_users" })
        {
            Assert.True(root.GetProperty(partition).GetProperty("mae_of_expected").GetDouble() > 0);
            Assert.Equal(
                baselines.GetProperty("support_mean").GetProperty(partition).GetProperty("mae").GetDouble(),
                baselines.GetProperty("support_mean_rounded").GetProperty(partition).GetProperty("mae_of_expected").GetDouble(),
                9);
        }

        // The served list, for the model and every list baseline, in the same run on the same users.
        AssertTopN(root.GetProperty("existing_items_new_users"));
        AssertTopN(root.GetProperty("new_items_new_users"));
        foreach (var name in new[] { "popularity", "top_rated", "item_knn", "ease" })
        {
            AssertTopN(baselines.GetProperty(name).GetProperty("existing_items_new_users"));
        }

        foreach (var name in new[] { "random", "content_knn" })
        {
            AssertTopN(baselines.GetProperty(name).GetProperty("new_items_new_users"));
        }

        Assert.Contains("training users", root.GetProperty("baselines_fitted_on").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Compare_TwoMethodsOnOneSplit_MeasuresBothOnTheSameUsersWithTheBaselinesOnce()
    {
        var hyper = new Hyperparameters { InnerSteps = 1, EmbeddingDim = 8, Hidden1 = 16, Hidden2 = 8 };
        string metaSgd = Path.Combine(directory, "metasgd.model"), mamo = Path.Combine(directory, "mamo.model");
        string json = Path.Combine(directory, "compare.json"), markdown = Path.Combine(directory, "compare.md");
        Assert.Equal(0, TrainCommand.Run("synthetic", metaSgd, new TrainingOptions { Hyperparameters = hyper, Epochs = 1 }, "cpu"));
        Assert.Equal(0, TrainCommand.Run("synthetic", mamo, new TrainingOptions { Hyperparameters = hyper with { Method = "mamo" }, Epochs = 1 }, "cpu"));

        Assert.Equal(0, CompareCommand.Run("synthetic", [metaSgd, mamo], new EvaluationOptions { PlainEpochs = 1 }, "cpu", json, markdown, trainDataPath: null));

        using var report = JsonDocument.Parse(File.ReadAllText(json));
        var models = report.RootElement.GetProperty("models").EnumerateArray().ToArray();
        Assert.Equal(["metasgd", "mamo"], models.Select(m => m.GetProperty("method").GetString()));
        foreach (var model in models)
        {
            var evaluated = model.GetProperty("report");
            AssertPartitions(evaluated);
            AssertTopN(evaluated.GetProperty("existing_items_new_users"));
            Assert.Empty(evaluated.GetProperty("baselines").EnumerateObject());   // measured once, below
            Assert.True(model.GetProperty("adapt_ms_per_user").GetDouble() > 0);
            Assert.True(model.GetProperty("state_bytes").GetInt64() > 0);
        }

        Assert.Equal(models[0].GetProperty("report").GetProperty("users").GetString(), models[1].GetProperty("report").GetProperty("users").GetString());
        Assert.Equal(
            models[0].GetProperty("report").GetProperty("existing_items_new_users").GetProperty("users").GetInt32(),
            models[1].GetProperty("report").GetProperty("existing_items_new_users").GetProperty("users").GetInt32());
        AssertTopN(report.RootElement.GetProperty("baselines").GetProperty("ease").GetProperty("existing_items_new_users"));
        Assert.Contains("| mamo (mamo on melu) |", File.ReadAllText(markdown), StringComparison.Ordinal);
    }

    [Fact]
    public void Compare_ModelsOfDifferentSplits_IsRefusedNamingTheModel()
    {
        var hyper = new Hyperparameters { InnerSteps = 1, EmbeddingDim = 8, Hidden1 = 16, Hidden2 = 8 };
        string first = Path.Combine(directory, "a.model"), other = Path.Combine(directory, "b.model");
        Assert.Equal(0, TrainCommand.Run("synthetic", first, new TrainingOptions { Hyperparameters = hyper, Epochs = 1 }, "cpu"));
        Assert.Equal(0, TrainCommand.Run("synthetic", other, new TrainingOptions { Hyperparameters = hyper, Epochs = 1 }, "cpu", split: new DataSplit { Seed = 7 }));

        var error = Assert.Throws<ArgumentException>(() => CompareCommand.Run("synthetic", [first, other], new EvaluationOptions { PlainEpochs = 1 }, "cpu", null, null, null));
        Assert.StartsWith("b: trained on other data or another user split", error.Message, StringComparison.Ordinal);
    }

    private static void AssertTopN(JsonElement partition)
    {
        var topN = partition.GetProperty("top_n");
        Assert.True(topN.GetProperty("users").GetInt32() > 0);
        foreach (var metric in new[] { "recall@10", "recall@20", "ndcg@20" })
        {
            double v = topN.GetProperty(metric).GetDouble();
            Assert.InRange(v, 0, 1);
        }

        Assert.True(topN.GetProperty("recall@20").GetDouble() >= topN.GetProperty("recall@10").GetDouble());
    }

    [Fact]
    public void Train_UnknownAlgorithm_FailsNamingTheOption()
    {
        var error = Assert.Throws<ArgumentException>(() => CommonOptions.ParseMethod("reptile", "--algo"));
        Assert.Contains("--algo", error.Message, StringComparison.Ordinal);
        Assert.Contains("metasgd", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Device_CudaWithoutCuda_FailsNamingTheSetting()
    {
        if (TorchSharp.torch.cuda.is_available())
        {
            Assert.Skip("this machine has CUDA");
        }

        var error = Assert.Throws<ArgumentException>(() => TorchDevice.Resolve("cuda", "--device"));
        Assert.Contains("--device", error.Message, StringComparison.Ordinal);
    }

    private static void AssertPartitions(JsonElement element)
    {
        foreach (var partition in new[] { "existing_items_new_users", "new_items_new_users" })
        {
            var p = element.GetProperty(partition);
            Assert.True(p.GetProperty("users").GetInt32() > 0, partition);
            foreach (var metric in new[] { "mae", "rmse", "ndcg3" })
            {
                double v = p.GetProperty(metric).GetDouble();
                Assert.True(double.IsFinite(v) && v >= 0, $"{partition}.{metric} = {v}");
            }
        }
    }
}

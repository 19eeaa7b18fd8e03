using Streaming.Learning.Inputs;
using Streaming.Learning.Models;
using Streaming.Learning.Serving;
using Streaming.Learning.Training;
using Streaming.Shared.Data;
using Streaming.Shared.Models;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

/// <summary>Shared steps of the MAMO, MELO and sequential-network tests: quick training, round trip, serving.</summary>
internal static class MethodFixtures
{
    public static readonly int[] VocabularySizes = [6, 19, 30, 40, 3, 8, 22, 12];

    /// <summary>Quick synthetic training of <paramref name="algorithm"/> on <paramref name="network"/>.</summary>
    public static TrainingOptions Quick(string algorithm, string network = "melu", int epochs = 2, FastWeightScope scope = FastWeightScope.All)
    {
        var options = LearningFixtures.QuickTraining(algorithm, scope, epochs);
        return options with { Hyperparameters = options.Hyperparameters with { Network = network } };
    }

    /// <summary>Random task tensors: item representations [users, items, itemDim], user representations [users, userDim], support targets.</summary>
    public static (Tensor Items, Tensor Users, SupportTargets Support) RandomTasks(int users, int items, int itemDim, int userDim)
    {
        var ratings = randint(1, 6, [users, items]).to_type(ScalarType.Float32);
        var mask = ones(users, items);
        mask[0, items - 1] = 0;   // one padding position
        return (randn(users, items, itemDim) * 0.3, randn(users, userDim) * 0.3, new SupportTargets(ratings, mask));
    }

    /// <summary>Saves, reloads and checks that the reloaded model serves the same lists and scores as the original.</summary>
    public static MetaModel RoundTripAndServe(MetaModel model, RatingsDataset data, string directory)
    {
        string path = Path.Combine(directory, $"{model.Module.Hyper.Method}-{model.Module.Hyper.Network}.model");
        model.Save(path);
        var loaded = MetaModel.Load(path, CPU);
        Assert.Equal(LearningFixtures.WeightBytes(model), LearningFixtures.WeightBytes(loaded));
        Assert.Equal(model.Manifest.Hyperparameters, loaded.Manifest.Hyperparameters);

        var sessions = Sessions(data, 5);
        using var original = new BatchRecommender(model, data.Items.Values);
        using var reloaded = new BatchRecommender(loaded, data.Items.Values);
        var a = original.Recommend(sessions, steps: 2, topK: 10, exportFastState: true);
        var b = reloaded.Recommend(sessions, steps: 2, topK: 10, exportFastState: true);
        for (int u = 0; u < sessions.Length; u++)
        {
            Assert.Equal(10, b[u].Items.Count);
            Assert.All(b[u].Items, i => Assert.True(float.IsFinite(i.Score)));
            Assert.Equal(a[u].Items.Select(i => i.ItemId), b[u].Items.Select(i => i.ItemId));
            Assert.Equal(model.Module.FastStateSize, b[u].FastState!.Length);
        }

        return loaded;
    }

    public static void AssertFinite(MetaModel model) =>
        Assert.All(model.Module.parameters(), p => Assert.True(p.isfinite().all().item<bool>()));

    public static UserSession[] Sessions(RatingsDataset data, int count) =>
        MeluProtocol.ExistingItemsTasks(data, data.Users.Keys, seed: 1)
            .Take(count)
            .Select(t => new UserSession(data.Users[t.UserId], t.Support))
            .ToArray();
}

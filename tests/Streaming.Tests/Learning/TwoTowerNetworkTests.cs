using Streaming.Learning.Inputs;
using Streaming.Learning.Methods;
using Streaming.Learning.Models;
using Streaming.Learning.Networks;
using Streaming.Learning.Networks.TwoTower;
using Streaming.Learning.Serving;
using Streaming.Learning.Training;
using Streaming.Shared.Data;
using Streaming.Shared.Models;
using Xunit;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

[Collection(TorchCollection.Name)]
public sealed class TwoTowerNetworkTests
{
    private static readonly Hyperparameters Small = new()
    {
        Network = TwoTowerNetwork.Name,
        Method = MetaSgdRanking.RegisteredName,
        EmbeddingDim = 8,
        Hidden1 = 16,
        Hidden2 = 16,
        InnerSteps = 2,
        InnerLearningRate = 0.1f,
        MetaLearningRate = 1e-2f,
        MetaBatchSize = 16,
    };

    [Fact]
    public void Shapes_ItemsUsersFastWeightsAndBothHeads()
    {
        using var d = NewDisposeScope();
        using var noGrad = no_grad();
        var world = HiddenTastes.Create(users: 12, seed: 1);
        manual_seed(1);
        using var module = new MetaModule(Small, world.Features);
        var network = Assert.IsType<TwoTowerNetwork>(module.Network);
        using var items = new ItemFeatureTensors(world.Table, CPU);
        using var batch = TaskBatch.Create(world.Tasks.Take(5).ToArray(), world.Table, world.Features, world.Profiles, CPU);

        var all = network.EmbedItems(items);
        var users = network.EncodeUsers(batch.Users, all);
        var fast = network.InitialFastWeights(users);
        var support = all.index_select(0, batch.SupportRows.flatten()).reshape(5, batch.SupportRows.shape[1], -1);
        var pass = Assert.IsType<RankingPass>(network.Forward(support, users, fast));

        Assert.Equal([world.Table.Count, (2 * 16) + 2], all.shape);
        Assert.Equal([5, (4 * 8) + (2 * 16)], users.shape);
        Assert.Equal([[5, 16], [5, 16], [5, 1]], fast.Values.Select(t => t.shape).ToArray());
        Assert.Equal(batch.SupportRows.shape, pass.Prediction.shape);
        Assert.Equal(batch.SupportRows.shape, pass.RankScores.shape);
        Assert.Equal(batch.SupportRows.shape, pass.CatalogueLogSumExp!.shape);
        // A normaliser holds its own position, so no position's softmax probability exceeds 1.
        Assert.True((pass.CatalogueLogSumExp - pass.RankScores).min().item<float>() >= -1e-5);
    }

    [Fact]
    public void ScoreCatalogue_IsTheListHead_NotTheRatings()
    {
        using var d = NewDisposeScope();
        using var noGrad = no_grad();
        var world = HiddenTastes.Create(users: 12, seed: 2);
        manual_seed(2);
        using var module = new MetaModule(Small, world.Features);
        var network = module.Network;
        using var items = new ItemFeatureTensors(world.Table, CPU);
        using var catalogue = network.PrepareCatalogue(items);
        var users = randn(4, (4 * 8) + (2 * 16));
        var fast = network.InitialFastWeights(users).Select((_, t) => t + (0.1 * randn_like(t)));

        var pass = Assert.IsType<RankingPass>(network.Forward(catalogue.Embeddings, users, fast));
        var served = network.ScoreCatalogue(catalogue, users, fast);

        Assert.True(served.allclose(pass.RankScores, rtol: 1e-5, atol: 1e-6));
        Assert.False(served.allclose(pass.Prediction, rtol: 1e-2, atol: 1e-2));
    }

    [Fact]
    public void FastState_FitsTheCache_FarBelowFourKilobytes()
    {
        var world = HiddenTastes.Create(users: 12, seed: 3);
        using var module = new MetaModule(new Hyperparameters { Network = TwoTowerNetwork.Name, Method = MetaSgdRanking.RegisteredName }, world.Features);

        // Defaults (D = 64): u and v (64 each) and b (1). The cache stores float16: 2 bytes a value.
        Assert.Equal(129, module.FastStateSize);
        Assert.True(module.FastStateSize * 2 <= 4096);
    }

    [Fact]
    public void MetaTraining_UsersWithHiddenTastes_RankingLossGoesDown()
    {
        var world = HiddenTastes.Create(users: 260, seed: 4);
        var (module, before, after) = Train(world, epochs: 12);
        using var _ = module;

        // log(80 items) = 4.4 for a uniform list; a user's own cluster holds 20 items.
        Assert.True(after < before - 0.4, $"held-out ranking loss {before:F3} -> {after:F3}");
    }

    [Fact]
    public void Recommend_InOneBatch_EqualsOneUserAtATime_AndSurvivesTheModelFile()
    {
        var world = HiddenTastes.Create(users: 120, seed: 5);
        var (module, _, _) = Train(world, epochs: 2);
        using var model = MetaModel.Unsaved(module, world.Features, new TrainingRecord(), null, DateTimeOffset.UnixEpoch);
        using var recommender = new BatchRecommender(model, world.Items.Values);
        var sessions = world.Tasks.Take(6).Select(t => new UserSession(UserProfile.Unknown, t.Support)).ToArray();

        var batched = recommender.Recommend(sessions, steps: 2, topK: 10, exportFastState: true);
        for (int u = 0; u < sessions.Length; u++)
        {
            var alone = recommender.Recommend([sessions[u]], steps: 2, topK: 10)[0];
            Assert.Equal(alone.Items.Select(i => i.ItemId), batched[u].Items.Select(i => i.ItemId));
            Assert.All(alone.Items.Zip(batched[u].Items), p => Assert.Equal(p.First.Score, p.Second.Score, 3));
            Assert.Equal((2 * 16) + 1, batched[u].FastState!.Length);
        }

        using var loaded = MetaModel.Load(model.ToBytes(), "memory", CPU);
        using var reloaded = new BatchRecommender(loaded, world.Items.Values);
        var again = reloaded.Recommend(sessions, steps: 2, topK: 10);
        Assert.Equal(batched.Select(r => r.Items.Select(i => i.ItemId).ToArray()), again.Select(r => r.Items.Select(i => i.ItemId).ToArray()));
    }

    private static (MetaModule Module, double Before, double After) Train(HiddenTastes world, int epochs)
    {
        manual_seed(7);
        var module = new MetaModule(Small, world.Features);
        using var items = new ItemFeatureTensors(world.Table, CPU);
        var train = world.Tasks.Take(world.Tasks.Count - 40).ToArray();
        using var held = TaskBatch.Create(world.Tasks.Skip(train.Length).ToArray(), world.Table, world.Features, world.Profiles, CPU);
        using var learner = new MetaLearner(module, items, firstOrder: false);
        double before = HiddenTastes.HeldOutRankingLoss(module, items, held);
        world.Train(learner, train, epochs, Small.MetaBatchSize);

        return (module, before, HiddenTastes.HeldOutRankingLoss(module, items, held));
    }
}

/// <summary>
/// Users whose tastes the profile does not tell: each belongs to one of four hidden clusters of 20 items and picks
/// most of the 24 items they rate from it. Only which items a user picked reveals the cluster.
/// </summary>
internal sealed record HiddenTastes(IReadOnlyDictionary<int, ItemInfo> Items, IReadOnlyList<UserTask> Tasks, IReadOnlyDictionary<int, UserProfile> Profiles, FeatureSpace Features, ItemFeatureTable Table)
{
    public static HiddenTastes Create(int users, int seed)
    {
        const int Clusters = 4, PerCluster = 20, Rated = 24, Query = 8;
        var random = new Random(seed);
        string[] genres = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi"];
        var items = Enumerable.Range(1, Clusters * PerCluster).ToDictionary(
            id => id,
            id => new ItemInfo(id, $"Item {id}", 1990, "PG", [genres[random.Next(genres.Length)]], [$"Director {random.Next(30)}"], [$"Actor {random.Next(60)}"]));
        var tasks = new List<UserTask>();
        for (int user = 1; user <= users; user++)
        {
            int cluster = random.Next(Clusters);
            var picked = new HashSet<int>();
            while (picked.Count < Rated)
            {
                picked.Add(random.NextDouble() < 0.85 ? 1 + (cluster * PerCluster) + random.Next(PerCluster) : 1 + random.Next(items.Count));
            }

            var ratings = picked.Select(id => new Rating(user, id, 3 + random.Next(3))).ToArray();
            tasks.Add(new UserTask(user, ratings[..^Query], ratings[^Query..]));
        }

        var profiles = new Dictionary<int, UserProfile>();
        var features = FeatureSpace.Build(items.Values, [UserProfile.Unknown]);
        return new HiddenTastes(items, tasks, profiles, features, features.EncodeItems(items.Values.OrderBy(i => i.ItemId)));
    }

    /// <summary>Meta-trains <paramref name="learner"/> on <paramref name="train"/> for <paramref name="epochs"/> epochs (batch order seeded).</summary>
    public void Train(MetaLearner learner, IReadOnlyList<UserTask> train, int epochs, int batchSize)
    {
        var random = new Random(7);
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            foreach (var chunk in MetaTraining.MakeBatches(train, batchSize, random))
            {
                using var batch = TaskBatch.Create(chunk, Table, Features, Profiles, CPU);
                learner.TrainStep(batch);
            }
        }
    }

    /// <summary>
    /// The outer loop's ranking term (every pick weighs the same) on users never trained on: adapt on the support set,
    /// rank the query items.
    /// </summary>
    public static double HeldOutRankingLoss(MetaModule module, ItemFeatureTensors items, TaskBatch batch)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        module.eval();
        var network = module.Network;
        var all = network.EmbedItems(items);
        var users = network.EncodeUsers(batch.Users, all);
        var support = all.index_select(0, batch.SupportRows.flatten()).reshape(batch.SupportRows.shape[0], batch.SupportRows.shape[1], -1);
        var query = all.index_select(0, batch.QueryRows.flatten()).reshape(batch.QueryRows.shape[0], batch.QueryRows.shape[1], -1);
        var fast = module.Adapt(support, users, batch.SupportTargets, module.Hyper.InnerSteps, secondOrder: false);
        return SoftmaxRankingLoss.Ranking(network.Forward(query, users, fast), batch.QueryTargets)!.mean().item<float>();
    }

    /// <summary>The tasks as a fixed training source: all but the last 20 users train, those validate.</summary>
    public TaskSource AsTaskSource() => new FixedTasks(this);

    private sealed class FixedTasks(HiddenTastes world) : TaskSource
    {
        public override IReadOnlyList<UserTask> Train { get; } = world.Tasks.SkipLast(20).ToArray();

        public override IReadOnlyList<UserTask> Validation { get; } = world.Tasks.TakeLast(20).ToArray();

        public override IReadOnlyDictionary<int, ItemInfo> Catalogue => world.Items;

        public override IReadOnlyDictionary<int, UserProfile> Profiles => world.Profiles;

        public override IReadOnlyList<UserTask> Resample(int epoch, int seed) => Train;

        public override TrainingRecord Describe() => new() { Data = "hidden tastes" };
    }
}

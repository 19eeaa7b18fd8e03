using Streaming.Learning.Inputs;
using Streaming.Learning.Methods;
using Streaming.Learning.Methods.Mml;
using Streaming.Learning.Models;
using Streaming.Learning.Networks;
using Streaming.Learning.Networks.ItemItem;
using Streaming.Learning.Networks.Mml;
using Streaming.Learning.Serving;
using Streaming.Learning.Training;
using Streaming.Shared.Data;
using Streaming.Shared.Models;
using Xunit;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class MmlNetworkTests
{
    private static readonly Hyperparameters Small = ItemItemNetworkTests.Small with { Method = MmlMethod.RegisteredName, TextDim = 64 };

    [Fact]
    public void Shapes_TheIdLearnersSlotsPlusTheTextLearnersAndAFusedRating()
    {
        using var d = NewDisposeScope();
        using var noGrad = no_grad();
        var world = Fitted(HiddenTastes.Create(users: 40, seed: 1), out var module);
        using var _ = module;
        var network = Assert.IsType<MmlNetwork>(module.Network);
        using var items = new ItemFeatureTensors(world.Table, CPU);
        using var batch = TaskBatch.Create(world.Tasks.Take(5).ToArray(), world.Table, world.Features, world.Profiles, CPU);

        var all = network.EmbedItems(items);
        var users = network.EncodeUsers(batch.Users, all);
        var fast = network.InitialFastWeights(users);
        var support = all.index_select(0, batch.SupportRows.flatten()).reshape(5, batch.SupportRows.shape[1], -1);
        var pass = Assert.IsType<RankingPass>(network.Forward(support, users, fast));

        Assert.Equal([[5, 16], [5, 1], [5, 16], [5, 1], [5, 16], [5, 1], [5, 1]], fast.Values.Select(t => t.shape).ToArray());
        Assert.Equal(batch.SupportRows.shape, pass.Prediction.shape);
        Assert.Equal(batch.SupportRows.shape, pass.RankScores.shape);
        Assert.True(pass.Prediction.isfinite().all().item<bool>());
        Assert.Equal(world.Table.Count, network.EncodedItems);

        // The list is the ID learner's: the same scores as the wrapped network over the same catalogue.
        var scores = network.ScoreCatalogue(new PreparedCatalogue(all), users, fast);
        Assert.Equal([5, world.Table.Count], scores.shape);
    }

    [Fact]
    public void EmbedItems_AnItemWithoutIdentity_GetsTheGeneratedEmbeddingNotTheSharedUnknownOne()
    {
        using var d = NewDisposeScope();
        using var noGrad = no_grad();
        var world = Fitted(HiddenTastes.Create(users: 40, seed: 2), out var module);
        using var _ = module;
        var network = Assert.IsType<MmlNetwork>(module.Network);
        var catalogue = world.Items.Values.Append(NewItem(world, 1000, "Director 3", "A heist that goes wrong in the desert")).Append(NewItem(world, 1001, "Director 4", "Two sisters run a bakery in Lyon")).ToArray();
        var table = world.Features.EncodeItems(catalogue);
        using var items = new ItemFeatureTensors(table, CPU);

        // The generator's gate starts at 0 (a generator that has learned nothing changes nothing): open it.
        module.named_parameters().Single(p => p.name.EndsWith("generator_gate", StringComparison.Ordinal)).parameter.fill_(1);
        var generated = network.EmbedItems(items).narrow(1, 0, network.IdLearner.LearnedItemDim);
        network.IdLearner.Generator = null;
        var unknown = network.IdLearner.EmbedItems(items).narrow(1, 0, network.IdLearner.LearnedItemDim);

        Assert.True(table.TryGetRow(1000, out int a));
        Assert.True(table.TryGetRow(1001, out int b));
        // Without the generator both new items share the unknown identity and differ only by their side features;
        // with it, each has its own embedding from its text, and the known items are untouched.
        Assert.False(generated[a].allclose(unknown[a]));
        Assert.False((generated[a] - generated[b]).allclose(unknown[a] - unknown[b]));
        Assert.True(generated.narrow(0, 0, world.Items.Count).allclose(unknown.narrow(0, 0, world.Items.Count)));
    }

    [Fact]
    public void Forward_AnItemWithoutIdentity_TakesTheContentLearnersShareOfItsRating_AndKnownItemsKeepTheirs()
    {
        using var d = NewDisposeScope();
        using var noGrad = no_grad();
        var world = Fitted(HiddenTastes.Create(users: 40, seed: 9), out var module);
        using var _ = module;
        var network = Assert.IsType<MmlNetwork>(module.Network);
        var catalogue = world.Items.Values.Append(NewItem(world, 1000, "Director 3", "A heist that goes wrong in the desert")).ToArray();
        var table = world.Features.EncodeItems(catalogue);
        Assert.True(table.TryGetRow(1000, out int fresh));
        using var items = new ItemFeatureTensors(table, CPU);
        using var batch = TaskBatch.Create(world.Tasks.Take(4).ToArray(), table, world.Features, world.Profiles, CPU);
        var all = network.EmbedItems(items);
        var users = network.EncodeUsers(batch.Users, all);
        var bias = tensor(new[] { -1f, -0.5f, 0.5f, 1f }).unsqueeze(1);
        var fast = network.InitialFastWeights(users).Select((slot, t) => slot == network.ContentBias ? bias : t);
        var share = module.named_parameters().Single(p => p.name.EndsWith("content_share", StringComparison.Ordinal)).parameter;

        Tensor Ratings(float logit)
        {
            share.fill_(logit);
            return network.Forward(all, users, fast).Prediction;
        }

        var without = Ratings(-30);   // s = 0: the fused rating everywhere
        var content = Ratings(30);    // s = 1: the content learner's for the identity-less item
        var half = Ratings(0);

        // The content learner's rating: the prior (the last item column) plus each user's bias.
        var expected = all[fresh, all.shape[1] - 1] + bias.squeeze(1);
        Assert.True(content[.., fresh].allclose(expected, 1e-5, 1e-5));
        Assert.True(half[.., fresh].allclose((without[.., fresh] + expected) / 2, 1e-5, 1e-5));
        var known = arange(table.Count).ne(fresh).nonzero().squeeze(1);
        Assert.True(content.index_select(1, known).allclose(without.index_select(1, known)));
        Assert.Equal(0.5, Math.Round(network.ContentShare, 6));
    }

    [Fact]
    public void CatalogueReload_EncodesOnlyTheNewItem_AndTheNewItemCanBeServed()
    {
        var world = HiddenTastes.Create(users: 120, seed: 5);
        var training = MetaTraining.Run(
            world.AsTaskSource(), new TrainingOptions { Hyperparameters = Small, Epochs = 2, Patience = 2, Seed = 7 }, initial: null, CPU, TimeProvider.System, cancellationToken: TestContext.Current.CancellationToken);
        using var model = training.Model;
        var network = Assert.IsType<MmlNetwork>(model.Network);
        using (new BatchRecommender(model, world.Items.Values))
        {
        }

        int before = network.EncodedItems, encoded = network.TextsEncoded;
        // A copy of a known item under a new id: same side features and text, but no identity embedding.
        var known = world.Items[7];
        var added = known with { ItemId = 5000 };
        using var reloaded = new BatchRecommender(model, world.Items.Values.Append(added));
        Assert.Equal(before + 1, network.EncodedItems);
        Assert.Equal(encoded + 1, network.TextsEncoded);

        var sessions = world.Tasks.Take(40).Select(t => new UserSession(UserProfile.Unknown, t.Support)).ToArray();
        var lists = reloaded.Recommend(sessions, steps: 2, topK: 20);
        Assert.Contains(lists, l => l.Items.Any(i => i.ItemId == added.ItemId));
    }

    [Fact]
    public void ServedWeight_IsTheIdLearnersServedEaseWeight_AndAnOlderFileWithoutItLoads()
    {
        var world = HiddenTastes.Create(users: 30, seed: 2);
        manual_seed(2);
        using var model = MetaModel.Unsaved(new MetaModule(Small, world.Features), world.Features, new TrainingRecord(), null, DateTimeOffset.UnixEpoch);
        var network = Assert.IsType<MmlNetwork>(model.Network);
        network.ServedWeight = 3;
        var names = model.Module.named_parameters().Select(p => p.name).ToHashSet();

        // The name the network declares is the one the file stores: an older MML file (without it) loads, at 1.
        var added = Assert.Single(network.ParametersAddedLater);
        Assert.Contains($"network.{added}", names);
        var older = Weights.Snapshot(model.Module).Where(p => p.Name != $"network.{added}").ToArray();
        using var fresh = new MetaModule(Small, world.Features);
        Weights.Restore(fresh, older, "older file", new HashSet<string> { $"network.{added}" });
        Assert.Equal(1, Assert.IsType<MmlNetwork>(fresh.Network).ServedWeight);
        using var loaded = MetaModel.Load(model.ToBytes(), "memory", CPU);
        Assert.Equal(3, Assert.IsType<MmlNetwork>(loaded.Network).ServedWeight);
    }

    [Fact]
    public void MetaTraining_TrainsTheGeneratorAndItsBorrowedEaseShareThroughDroppedIdentities()
    {
        var world = HiddenTastes.Create(users: 120, seed: 6);
        manual_seed(3);
        using var module = new MetaModule(Small, world.Features);
        Assert.IsType<MmlNetwork>(module.Network).Fit(new TrainingDataFit(world.Tasks.Take(90).ToArray(), world.Tasks.Skip(90).ToArray(), world.Table));
        var generator = module.named_parameters().Where(p => p.name.Contains("generator", StringComparison.Ordinal)).ToArray();
        Assert.NotEmpty(generator);
        var before = generator.Select(p => p.parameter.detach().clone()).ToArray();
        using var items = new ItemFeatureTensors(world.Table, CPU);
        using var learner = new MetaLearner(module, items, firstOrder: false);
        module.train();
        foreach (var chunk in MetaTraining.MakeBatches(world.Tasks, Small.MetaBatchSize, new Random(1)).Take(3))
        {
            using var batch = TaskBatch.Create(chunk, world.Table, world.Features, world.Profiles, CPU);
            learner.TrainStep(batch);
        }

        Assert.Contains(generator.Zip(before), p => !p.First.parameter.allclose(p.Second));

        // The share of borrowed EASE scores too (B fitted above, so there are scores to borrow): only items dropped to
        // identity-less in training borrow any, so it learns only if a dropped item is identity-less for EASE as well.
        var borrow = generator.Single(p => p.name.EndsWith("generator_borrow", StringComparison.Ordinal)).parameter;
        Assert.NotEqual(0f, borrow.item<float>());

        // The content learner's share and its users' starting bias learn on the same dropped items (both start at 0).
        var content = module.named_parameters().Where(p => p.name.Contains("content_", StringComparison.Ordinal)).ToArray();
        Assert.Equal(2, content.Length);
        Assert.All(content, p => Assert.NotEqual(0f, p.parameter.item<float>()));
    }

    [Fact]
    public void Generator_InTraining_GateItemsTrainOnlyTheGate_AndTheOtherItemsOnlyTheRest()
    {
        using var d = NewDisposeScope();
        var world = HiddenTastes.Create(users: 40, seed: 8);
        var generator = new TextItemGenerator(8, 4, 6, 5, items => ones(items.Count, 4));
        generator.named_parameters().Single(p => p.name == "generator_gate").parameter.detach().fill_(0.5);
        generator.train();
        using var items = new ItemFeatureTensors(world.Table, CPU);
        var side = randn(items.Count, 8);
        var gateRows = world.Table.ItemIds.Select(TextItemGenerator.IsGateItem).ToArray();
        Assert.InRange(gateRows.Count(g => g), items.Count / 10, items.Count * 3 / 10);   // about one in five

        (double Gate, double Others) Gradients(bool fromGateItems)
        {
            generator.zero_grad();
            var rows = tensor(gateRows.Select(g => g == fromGateItems).ToArray()).unsqueeze(1);
            (generator.Generate(items, side) * rows).sum().backward();
            var grads = generator.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad);
            double rest = grads.Where(g => g.Key != "generator_gate").Sum(g => g.Value is null ? 0 : g.Value.abs().sum().item<float>());
            return (grads["generator_gate"]?.abs().sum().item<float>() ?? 0, rest);
        }

        var fromGate = Gradients(fromGateItems: true);
        var fromRest = Gradients(fromGateItems: false);
        Assert.True(fromGate.Gate > 0 && fromGate.Others == 0, $"gate items: gate {fromGate.Gate}, the rest {fromGate.Others}");
        Assert.True(fromRest.Gate == 0 && fromRest.Others > 0, $"other items: gate {fromRest.Gate}, the rest {fromRest.Others}");

        // Serving scales every item by the gate.
        generator.eval();
        using var noGrad = no_grad();
        var served = generator.Generate(items, side);
        generator.train();
        var trained = generator.Generate(items, side);
        var rest = tensor(gateRows.Select(g => !g).ToArray());
        Assert.True(served[rest].allclose(0.5 * trained[rest], 1e-5, 1e-6));
    }

    [Fact]
    public void ModelFile_KeepsTheFittedIdfAndTheGenerator_SoServingEncodesAsTrainingDid()
    {
        using var d = NewDisposeScope();
        var world = Fitted(HiddenTastes.Create(users: 40, seed: 4), out var module);
        using var model = MetaModel.Unsaved(module, world.Features, new TrainingRecord(), null, DateTimeOffset.UnixEpoch);
        using var loaded = MetaModel.Load(model.ToBytes(), "memory", CPU);
        Assert.Equal(MmlMethod.RegisteredName, loaded.Manifest.Hyperparameters.Method);
        using var items = new ItemFeatureTensors(world.Table, CPU);
        using var noGrad = no_grad();
        module.eval();
        loaded.Module.eval();

        Assert.True(module.Network.EmbedItems(items).allclose(loaded.Network.EmbedItems(items), 1e-5, 1e-6));
    }

    private static HiddenTastes Fitted(HiddenTastes world, out MetaModule module)
    {
        manual_seed(1);
        module = new MetaModule(Small, world.Features);
        var network = Assert.IsType<MmlNetwork>(module.Network);
        network.Fit(new TrainingDataFit(world.Tasks.Take(30).ToArray(), world.Tasks.Skip(30).ToArray(), world.Table));
        module.eval();   // no identity or EASE dropout
        return world;
    }

    private static ItemInfo NewItem(HiddenTastes world, int id, string director, string plot) =>
        world.Items[1] with { ItemId = id, Title = $"New {id}", Directors = [director], Plot = plot };
}

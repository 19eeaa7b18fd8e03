using Streaming.Learning.Methods;
using Streaming.Learning.Networks;
using Streaming.Learning.Networks.Melu;
using Streaming.Learning.Inputs;
using Streaming.Shared.Models;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

/// <summary>Gradient checks: the hand-written batched backward and the second-order meta-gradient against autograd.</summary>
[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class InnerLoopGradientTests
{
    private static readonly int[] VocabularySizes = [6, 19, 30, 40, 3, 8, 22, 12];

    public static TheoryData<FastWeightScope> Scopes => new(Enum.GetValues<FastWeightScope>());

    [Theory]
    [MemberData(nameof(Scopes))]
    public void HandWrittenGradient_MatchesAutograd_ForEveryScope(FastWeightScope scope)
    {
        using var d = NewDisposeScope();
        manual_seed(11);
        var network = new MeluNetwork(new Hyperparameters { Scope = scope, EmbeddingDim = 8, Hidden1 = 16, Hidden2 = 12, Rank = 3, ContextDim = 5 }, VocabularySizes);
        var (items, users, support) = RandomTasks(users: 4, items: 7, half: 32);
        var loss = new MseLoss();

        // Leaf copies of the starting state, so autograd can differentiate with respect to each user's tensors.
        var fast = network.InitialFastWeights(users).Select((_, t) => (t + 0.05 * randn_like(t)).detach().requires_grad_(true));

        var pass = network.Forward(items, users, fast);
        var expected = autograd.grad([loss.PerUser(pass.Prediction, support).sum()], fast.Values.ToArray());
        var actual = network.HandWrittenGradient.Backward(pass, loss.Gradient(pass, support)!, fast);

        foreach (var slot in network.FastSpec.Slots)
        {
            Assert.True(expected[slot.Index].allclose(actual[slot]!, rtol: 1e-4, atol: 1e-5),
                $"{scope}/{slot.Name}: max difference {(expected[slot.Index] - actual[slot]!).abs().max().item<float>()}");
        }
    }

    [Theory]
    [InlineData(FastWeightScope.All)]
    [InlineData(FastWeightScope.LowRank)]
    public void SecondOrderMetaGradient_MatchesAutogradInnerLoop(FastWeightScope scope)
    {
        using var d = NewDisposeScope();
        manual_seed(5);
        var hyper = new Hyperparameters { Scope = scope, Method = "maml", EmbeddingDim = 8, Hidden1 = 16, Hidden2 = 12, InnerSteps = 2, InnerLearningRate = 0.3f };
        using var model = new MetaModule(new MeluNetwork(hyper, VocabularySizes), new Maml());
        var network = model.Network;
        var (items, users, support) = RandomTasks(users: 3, items: 6, half: 32);
        var (queryItems, _, query) = RandomTasks(users: 3, items: 5, half: 32);
        var parameters = model.parameters().ToArray();

        // Ours: the hand-written inner gradient, differentiated by autograd.
        var fast = model.Adapt(items, users, support, hyper.InnerSteps, secondOrder: true);
        Tensor ours = model.Loss.PerUser(network.Forward(queryItems, users, fast).Prediction, query).mean();
        var oursGrad = autograd.grad([ours], parameters, allow_unused: true);

        // Reference: the inner gradient itself taken by autograd with create_graph (textbook MAML).
        var reference = network.InitialFastWeights(users);
        foreach (var t in reference.Values.Where(t => !t.requires_grad))
        {
            t.requires_grad_(true);   // the zero-initialised low-rank factors are constants; autograd.grad needs a path
        }

        for (int step = 0; step < hyper.InnerSteps; step++)
        {
            Tensor inner = model.Loss.PerUser(network.Forward(items, users, reference).Prediction, support).sum();
            var g = autograd.grad([inner], reference.Values.ToArray(), retain_graph: true, create_graph: true);
            reference = reference.Select((slot, t) => t - hyper.InnerLearningRate * g[slot.Index]);
        }

        Tensor theirs = model.Loss.PerUser(network.Forward(queryItems, users, reference).Prediction, query).mean();
        var theirsGrad = autograd.grad([theirs], parameters, allow_unused: true);

        Assert.Equal(theirs.item<float>(), ours.item<float>(), 4);
        for (int i = 0; i < parameters.Length; i++)
        {
            if (theirsGrad[i] is null || theirsGrad[i].IsInvalid)
            {
                continue;
            }

            Assert.True(theirsGrad[i].allclose(oursGrad[i], rtol: 1e-3, atol: 1e-5),
                $"parameter {i}: max difference {(theirsGrad[i] - oursGrad[i]).abs().max().item<float>()}");
        }
    }

    [Fact]
    public void AutogradInnerGradient_EqualsTheHandWrittenOne_SoNetworksWithoutABackwardPlugIn()
    {
        using var d = NewDisposeScope();
        manual_seed(7);
        var hyper = new Hyperparameters { EmbeddingDim = 8, Hidden1 = 16, Hidden2 = 12, InnerSteps = 2 };
        using var model = new MetaModule(new MeluNetwork(hyper, VocabularySizes), new MetaSgd());
        var (items, users, support) = RandomTasks(users: 3, items: 6, half: 32);
        var fast = model.Network.InitialFastWeights(users);

        var handWritten = InnerLoop.Gradient(model, items, users, support, fast, secondOrder: false);
        var autogradOnly = InnerLoop.Gradient(new MetaModule(new NoBackward((MeluNetwork)model.Network), new MetaSgd()), items, users, support, fast, secondOrder: false);

        foreach (var slot in model.Network.FastSpec.Slots)
        {
            Assert.True(handWritten[slot]!.allclose(autogradOnly[slot]!, rtol: 1e-4, atol: 1e-5), $"{slot.Name}");
        }
    }

    private static (Tensor Items, Tensor Users, SupportTargets Support) RandomTasks(int users, int items, int half)
    {
        Tensor itemEmbeddings = randn(users, items, half);
        Tensor userEmbeddings = randn(users, half);
        Tensor ratings = randint(1, 6, [users, items]).to_type(ScalarType.Float32);
        Tensor mask = ones(users, items);
        mask[0, items - 1] = 0;   // padding in one user's set
        mask[1, items - 2] = 0;
        return (itemEmbeddings, userEmbeddings, new SupportTargets(ratings, mask));
    }

    /// <summary>A network without a hand-written backward: the same MeLU forward, differentiated by autograd.</summary>
    private sealed class NoBackward(MeluNetwork inner) : MetaNetwork("no_backward", inner.Hyper)
    {
        public override NetworkInputs Inputs => inner.Inputs;

        public override FastWeightSpec FastSpec => inner.FastSpec;

        public override Tensor EmbedItems(ItemFeatureTensors items) => inner.EmbedItems(items);

        public override Tensor EncodeUsers(UserInputs users, Tensor itemEmbeddings) => inner.EncodeUsers(users, itemEmbeddings);

        public override FastWeights InitialFastWeights(Tensor users) => inner.InitialFastWeights(users);

        public override NetworkPass Forward(Tensor items, Tensor users, FastWeights fast) => inner.Forward(items, users, fast);
    }
}

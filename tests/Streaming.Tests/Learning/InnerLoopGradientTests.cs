using Streaming.Learning;
using Streaming.Learning.Evaluation;
using Streaming.Learning.Inputs;
using Streaming.Learning.Methods;
using Streaming.Learning.Models;
using Streaming.Learning.Networks;
using Streaming.Learning.Serving;
using Streaming.Learning.Training;
using Streaming.Shared.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

[Collection(TorchCollection.Name)]
public sealed class InnerLoopGradientTests
{
    private static readonly int[] VocabularySizes = [6, 19, 30, 40, 3, 8, 22, 12];

    public static TheoryData<FastWeightScope> Scopes => new(Enum.GetValues<FastWeightScope>());

    [Theory]
    [MemberData(nameof(Scopes))]
    public void FastGradients_MatchAutograd_ForEveryScope(FastWeightScope scope)
    {
        using var d = NewDisposeScope();
        manual_seed(11);
        var network = new MeluNetwork(new Hyperparameters { Scope = scope, EmbeddingDim = 8, Hidden1 = 16, Hidden2 = 12, Rank = 3, ContextDim = 5 }, VocabularySizes);
        var (items, users, ratings, mask) = RandomTasks(users: 4, items: 7, half: 32);

        // Leaf copies of the starting state, so autograd can differentiate with respect to each user's tensors.
        var start = network.InitialFastWeights(4, CPU);
        var leaves = start.Values.ToDictionary(kv => kv.Key, kv => (kv.Value + 0.05 * randn_like(kv.Value)).detach().requires_grad_(true));
        var fast = new FastWeights(leaves);

        var pass = network.Decide(items, users, fast);
        Tensor loss = InnerLoop.UserLoss(pass.Prediction, ratings, mask).sum();
        var names = leaves.Keys.ToArray();
        var expected = autograd.grad([loss], names.Select(n => leaves[n]).ToArray());

        Tensor scale = mask * (2.0f / mask.sum(1, keepdim: true).clamp_min(1));
        var actual = network.FastGradients(pass, (pass.Prediction - ratings) * scale, fast);

        Assert.Equal(names.Order(), actual.Keys.Order());
        for (int i = 0; i < names.Length; i++)
        {
            Assert.True(expected[i].allclose(actual[names[i]], rtol: 1e-4, atol: 1e-5),
                $"{scope}/{names[i]}: max difference {(expected[i] - actual[names[i]]).abs().max().item<float>()}");
        }
    }

    [Theory]
    [InlineData(FastWeightScope.All)]
    [InlineData(FastWeightScope.LowRank)]
    public void SecondOrderMetaGradient_MatchesAutogradInnerLoop(FastWeightScope scope)
    {
        using var d = NewDisposeScope();
        manual_seed(5);
        var hyper = new Hyperparameters { Scope = scope, Algorithm = MetaAlgorithm.Maml, EmbeddingDim = 8, Hidden1 = 16, Hidden2 = 12, InnerSteps = 2, InnerLearningRate = 0.3f };
        var network = new MeluNetwork(hyper, VocabularySizes);
        var (items, users, ratings, mask) = RandomTasks(users: 3, items: 6, half: 32);
        var (queryItems, _, queryRatings, queryMask) = RandomTasks(users: 3, items: 5, half: 32);
        var parameters = network.parameters().ToArray();

        // Ours: the hand-written inner gradient, differentiated by autograd.
        var fast = InnerLoop.Adapt(network, items, users, ratings, mask, hyper.InnerSteps, secondOrder: true);
        Tensor ours = InnerLoop.UserLoss(network.Decide(queryItems, users, fast).Prediction, queryRatings, queryMask).mean();
        var oursGrad = autograd.grad([ours], parameters, allow_unused: true);

        // Reference: the inner gradient itself taken by autograd with create_graph (textbook MAML).
        var reference = network.InitialFastWeights(3, CPU);
        foreach (var t in reference.Values.Values.Where(t => !t.requires_grad))
        {
            t.requires_grad_(true);   // the zero-initialised low-rank factors are constants; autograd.grad needs a path
        }

        for (int step = 0; step < hyper.InnerSteps; step++)
        {
            var names = reference.Values.Keys.ToArray();
            Tensor inner = InnerLoop.UserLoss(network.Decide(items, users, reference).Prediction, ratings, mask).sum();
            var g = autograd.grad([inner], names.Select(n => reference.Values[n]).ToArray(), retain_graph: true, create_graph: true);
            reference = new FastWeights(names.Select((n, i) => (n, t: reference.Values[n] - hyper.InnerLearningRate * g[i])).ToDictionary(x => x.n, x => x.t));
        }

        Tensor theirs = InnerLoop.UserLoss(network.Decide(queryItems, users, reference).Prediction, queryRatings, queryMask).mean();
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

    private static (Tensor Items, Tensor Users, Tensor Ratings, Tensor Mask) RandomTasks(int users, int items, int half)
    {
        Tensor itemEmbeddings = randn(users, items, half);
        Tensor userEmbeddings = randn(users, half);
        Tensor ratings = randint(1, 6, [users, items]).to_type(ScalarType.Float32);
        Tensor mask = ones(users, items);
        mask[0, items - 1] = 0;   // padding in one user's set
        mask[1, items - 2] = 0;
        return (itemEmbeddings, userEmbeddings, ratings, mask);
    }
}

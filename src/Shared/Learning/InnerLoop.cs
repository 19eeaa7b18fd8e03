using static TorchSharp.torch;

namespace Streaming.Shared.Learning;

/// <summary>
/// The local update of MeLU / MAML / MetaSGD for a whole batch of users at once:
/// fast' = fast - alpha * grad L(S_u; fast), with the gradient written out by hand
/// (<see cref="MeluNetwork.FastGradients"/>) and every user's fast tensors stacked on a leading dimension.
/// </summary>
public static class InnerLoop
{
    /// <summary>Per-user mean squared error over the unmasked positions: [users].</summary>
    public static Tensor UserLoss(Tensor prediction, Tensor ratings, Tensor mask)
    {
        ArgumentNullException.ThrowIfNull(mask);
        return ((prediction - ratings).square() * mask).sum(1) / mask.sum(1).clamp_min(1);
    }

    /// <summary>
    /// Adapts the fast weights of every user in the batch for <paramref name="steps"/> steps on their support sets.
    /// </summary>
    /// <param name="network">The meta-model.</param>
    /// <param name="supportItems">[users, max support, 4E] item embeddings of the support sets.</param>
    /// <param name="users">[users, 4E] user embeddings.</param>
    /// <param name="ratings">[users, max support] ratings (anything at padded positions).</param>
    /// <param name="mask">[users, max support] 1 for real ratings, 0 for padding.</param>
    /// <param name="steps">Local steps (0 returns the meta-initialisation).</param>
    /// <param name="secondOrder">
    /// Keep the inner gradients in the autograd graph (second-order MAML). False treats them as constants
    /// (first order); when serving under no_grad it makes no difference.
    /// </param>
    /// <param name="afterStep">Called with (step index, fast weights after it), for the multi-step loss.</param>
    public static FastWeights Adapt(
        MeluNetwork network,
        Tensor supportItems,
        Tensor users,
        Tensor ratings,
        Tensor mask,
        int steps,
        bool secondOrder,
        Action<int, FastWeights>? afterStep = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(mask);
        var fast = network.InitialFastWeights(mask.shape[0], mask.device);
        // d(mean over the user's support of (p - y)^2) / dp, zero at padding.
        Tensor scale = mask * (2.0f / mask.sum(1, keepdim: true).clamp_min(1));
        for (int step = 0; step < steps; step++)
        {
            var pass = network.Decide(supportItems, users, fast);
            Tensor dPrediction = (pass.Prediction - ratings) * scale;
            var grads = network.FastGradients(pass, dPrediction, fast);
            var next = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var (name, value) in fast.Values)
            {
                Tensor g = secondOrder ? grads[name] : grads[name].detach();
                next[name] = value - network.InnerRate(name, step) * g;
            }

            fast = new FastWeights(next);
            afterStep?.Invoke(step, fast);
        }

        return fast;
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace Streaming.Learning.Methods;

/// <summary>
/// The local update of every method, for a whole batch of users at once:
/// fast' = fast - rate(slot, step) * grad L(S_u; fast), with every user's fast tensors stacked on a leading
/// dimension. The gradient comes from the network's hand-written backward when it has one and the loss has a
/// closed-form derivative, and from autograd otherwise (<c>create_graph</c> when second order).
/// </summary>
public static class InnerLoop
{
    /// <summary>Adapts the fast weights of every user in the batch for <paramref name="steps"/> steps on their support sets.</summary>
    /// <param name="model">The meta-model (network, rates, loss).</param>
    /// <param name="supportItems">[users, max support, item dim] item representations of the support sets.</param>
    /// <param name="users">[users, user dim] user representations.</param>
    /// <param name="support">Support ratings and mask.</param>
    /// <param name="steps">Local steps (0 returns the meta-initialisation).</param>
    /// <param name="secondOrder">
    /// Keep the inner gradients in the autograd graph (second-order MAML). False treats them as constants
    /// (first order); when serving under no_grad it makes no difference.
    /// </param>
    /// <param name="afterStep">Called with (step index, fast weights after it), for the multi-step loss.</param>
    public static FastWeights Adapt(
        MetaModule model,
        Tensor supportItems,
        Tensor users,
        SupportTargets support,
        int steps,
        bool secondOrder,
        Action<int, FastWeights>? afterStep = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(users);
        var fast = model.Network.InitialFastWeights(users);
        for (int step = 0; step < steps; step++)
        {
            var grads = Gradient(model, supportItems, users, support, fast, secondOrder);
            int s = step;
            fast = fast.Select((slot, value) => value - model.Rates.Rate(slot, s, value.device) * grads[slot]!);
            afterStep?.Invoke(step, fast);
        }

        return fast;
    }

    /// <summary>The gradient of the users' summed support loss with respect to their fast weights.</summary>
    public static FastWeights Gradient(MetaModule model, Tensor supportItems, Tensor users, SupportTargets support, FastWeights fast, bool secondOrder)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(fast);
        var network = model.Network;
        if (network.HandWrittenGradient is { } handWritten)
        {
            var pass = network.Forward(supportItems, users, fast);
            if (model.Loss.Gradient(pass, support) is { } dPass)
            {
                var grads = handWritten.Backward(pass, dPass, fast);
                return secondOrder ? grads : grads.Select((_, g) => g.detach());
            }
        }

        // Autograd: differentiate the loss itself. First order (and serving) take the gradient at a detached copy,
        // so the result is a constant; second order keeps the graph so the meta-gradient flows through it.
        // The inputs are detached too in that case: a constant gradient needs no graph to the encoder. Second order keeps
        // the graph (retain_graph, as PyTorch does with create_graph), since the query loss later backpropagates through
        // the same user and item representations (a sequence encoder's, say).
        using var enabled = enable_grad();
        // First order (and serving) detach the inputs too: a constant gradient needs no graph to the encoder. Second order
        // keeps the graph (retain_graph as well: PyTorch's defaults to create_graph, TorchSharp's does not), since the
        // outer backward passes through this step's forward nodes again (a sequence encoder's, say).
        bool keep = secondOrder && fast.Values.All(t => t.requires_grad);
        var at = keep ? fast : fast.Select((_, t) => t.detach().requires_grad_());
        Tensor loss = keep
            ? model.Loss.PerUser(network.Forward(supportItems, users, at), support).sum()
            : model.Loss.PerUser(network.Forward(supportItems.detach(), users.detach(), at), support).sum();
        var g = torch.autograd.grad([loss], at.Values.ToArray(), retain_graph: keep, create_graph: keep, allow_unused: true);
        // A slot the loss does not read (a list head under plain MSE) comes back as an undefined tensor, not null.
        return new FastWeights(fast.Spec, g.Select((t, i) => t is null || t.IsInvalid ? zeros_like(at.Values[i]) : t).ToArray());
    }
}

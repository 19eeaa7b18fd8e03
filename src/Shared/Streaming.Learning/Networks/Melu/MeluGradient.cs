using static TorchSharp.torch;

namespace Streaming.Learning.Networks.Melu;

/// <summary>
/// The hand-written batched backward of the MeLU decision network: the gradient of sum_u L_u with respect to
/// each user's fast tensors, given dL/dprediction [users, items]. It lets serving adapt under no_grad at the
/// cost of a few matrix products, and in training autograd differentiates through it (second-order MAML).
/// Checked against autograd for every scope in the tests.
/// </summary>
internal sealed class MeluGradient(MeluNetwork network) : IFastGradient
{
    public FastWeights Backward(NetworkPass pass, PassGradient gradient, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        ArgumentNullException.ThrowIfNull(fast);
        if (gradient.ReachesTheList)
        {
            throw new ArgumentException("MeLU has no list head: its backward propagates the predicted ratings' gradient only", nameof(gradient));
        }

        var dPrediction = gradient.Prediction;
        if (pass is not MeluPass p)
        {
            throw new ArgumentException("the pass did not come from a MeLU network", nameof(pass));
        }

        var s = network.Slots;
        var grads = new Tensor[fast.Spec.Slots.Count];
        void Set(FastSlot? slot, Func<Tensor> gradient)
        {
            if (slot is not null)
            {
                grads[slot.Index] = gradient();
            }
        }

        Tensor dp = dPrediction.unsqueeze(-1);                               // [B, N, 1]
        Set(s.W3, () => dp.transpose(1, 2).matmul(p.A2));                    // [B, 1, H2]
        Set(s.B3, () => dPrediction.sum(1, keepdim: true));                  // [B, 1]

        bool needLayer2 = s.W2 is not null || s.B2 is not null || s.U2 is not null;
        bool needLayer1 = s.W1 is not null || s.B1 is not null || s.U1 is not null || s.C is not null;
        if (needLayer2 || needLayer1)
        {
            Tensor dz2 = dp.matmul(fast[s.W3] ?? network.SharedW3) * p.Mask2;  // [B, N, H2]
            Set(s.W2, () => dz2.transpose(1, 2).matmul(p.A1));               // [B, H2, H1]
            Set(s.B2, () => dz2.sum(1));
            Set(s.U2, () => dz2.transpose(1, 2).matmul(p.A1V2!));            // [B, H2, r]
            if (needLayer1)
            {
                Tensor da1 = dz2.matmul(fast[s.W2] ?? network.SharedW2);     // [B, N, H1]
                if (fast[s.U2] is { } u2)
                {
                    da1 += dz2.matmul(u2).matmul(network.SharedV2!.t());
                }

                Tensor dz1 = da1 * p.Mask1;
                Tensor db1 = dz1.sum(1);                                     // [B, H1]
                Set(s.W1, () =>
                {
                    Tensor items = p.ItemEmbeddings.dim() == 2 ? p.ItemEmbeddings.unsqueeze(0) : p.ItemEmbeddings;
                    Tensor dItem = dz1.transpose(1, 2).matmul(items);        // [B, H1, E4]
                    Tensor dUser = db1.unsqueeze(2) * p.UserEmbeddings.unsqueeze(1);
                    return cat([dItem, dUser], 2);
                });
                Set(s.B1, () => db1);
                Set(s.U1, () => dz1.transpose(1, 2).matmul(p.XV1!));         // [B, H1, r]
                Set(s.C, () => db1.matmul(network.SharedP!));                // [B, C]
            }
        }

        return new FastWeights(fast.Spec, grads);
    }
}

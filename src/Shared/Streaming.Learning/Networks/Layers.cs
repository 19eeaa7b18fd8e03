using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Learning.Networks;

/// <summary>Layer construction and the feature pooling every network here shares (one copy, so they initialise alike).</summary>
public static class Layers
{
    /// <summary>An embedding table initialised N(0, <paramref name="std"/>) (MeLU's 0.1 by default).</summary>
    public static Embedding Embedding(long size, long dim, double std = 0.1)
    {
        var e = nn.Embedding(size, dim);
        using (no_grad())
        {
            nn.init.normal_(e.weight!, 0, std);
        }

        return e;
    }

    /// <summary>A linear layer's weight [outputs, inputs] with PyTorch's nn.Linear default: U(-1/sqrt(in), 1/sqrt(in)).</summary>
    public static Parameter LinearWeight(int outputs, int inputs)
    {
        double bound = 1.0 / Math.Sqrt(inputs);
        return new Parameter(rand(outputs, inputs).mul_(2 * bound).sub_(bound));
    }

    /// <summary>A multi-valued feature's embedding: the weighted mean of its values' embeddings, [items, dim].</summary>
    public static Tensor WeightedMean(Embedding table, Tensor index, Tensor weight)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(weight);
        return (table.call(index) * weight.unsqueeze(-1)).sum(1);
    }
}

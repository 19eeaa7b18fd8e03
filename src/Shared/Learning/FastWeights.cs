using static TorchSharp.torch;

namespace Streaming.Shared.Learning;

/// <summary>
/// The per-user ("fast") tensors of a batch of users, each with a leading user dimension. These are the
/// only values that differ between users: the service caches them, tagged with the meta-model version.
/// </summary>
public sealed class FastWeights
{
    private readonly Dictionary<string, Tensor> values;

    /// <summary>Wraps per-user tensors keyed by fast-tensor name.</summary>
    public FastWeights(Dictionary<string, Tensor> values) => this.values = values;

    /// <summary>The fast tensors by name.</summary>
    public IReadOnlyDictionary<string, Tensor> Values => values;

    /// <summary>Whether this state adapts tensor <paramref name="name"/>.</summary>
    public bool Contains(string name) => values.ContainsKey(name);

    /// <summary>The per-user tensor <paramref name="name"/>, or null when it is shared.</summary>
    public Tensor? GetOrDefault(string name) => values.GetValueOrDefault(name);

    /// <summary>Names of the fast tensors of a scope, in the fixed order used by the model file and the cache.</summary>
    public static IReadOnlyList<string> NamesFor(FastWeightScope scope) => scope switch
    {
        FastWeightScope.All => ["W1", "b1", "W2", "b2", "W3", "b3"],
        FastWeightScope.Last => ["W3", "b3"],
        FastWeightScope.Bias => ["b1", "b2", "b3"],
        FastWeightScope.LowRank => ["U1", "b1", "U2", "b2", "W3", "b3"],
        FastWeightScope.Context => ["c"],
        _ => throw new ArgumentOutOfRangeException(nameof(scope), scope, "unknown scope"),
    };

    /// <summary>Moves every tensor out of the current dispose scope (for state that must outlive it).</summary>
    public FastWeights MoveToOuterDisposeScope()
    {
        foreach (var t in values.Values)
        {
            t.MoveToOuterDisposeScope();
        }

        return this;
    }

    /// <summary>Flattens each user's state into one row: [users, state size], in <see cref="NamesFor"/> order.</summary>
    public Tensor Flatten(IReadOnlyList<string> order)
    {
        ArgumentNullException.ThrowIfNull(order);
        return cat(order.Select(n => values[n].reshape(values[n].shape[0], -1)).ToArray(), 1);
    }

    /// <summary>The inverse of <see cref="Flatten"/>: splits rows [users, state size] into named tensors.</summary>
    public static FastWeights Unflatten(Tensor rows, MeluNetwork network)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(network);
        var values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        long offset = 0;
        foreach (string name in network.FastNames)
        {
            long[] shape = network.FastShape(name);
            long size = shape.Aggregate(1L, (a, b) => a * b);
            values[name] = rows.narrow(1, offset, size).reshape([rows.shape[0], .. shape]);
            offset += size;
        }

        return new FastWeights(values);
    }
}

using static TorchSharp.torch;

namespace Streaming.Learning.Networks;

/// <summary>What a fast tensor is to the network; rate policies that work per layer read it.</summary>
public enum FastSlotKind
{
    /// <summary>A layer's weight matrix.</summary>
    Weight,

    /// <summary>A layer's bias.</summary>
    Bias,

    /// <summary>A per-user low-rank factor of a layer's delta.</summary>
    LowRankFactor,

    /// <summary>A per-user context vector (CAVIA).</summary>
    Context,

    /// <summary>A per-user embedding (a user vector over an item space).</summary>
    Embedding,
}

/// <summary>
/// One per-user ("fast") tensor a network declares: its position in the state, a name for the model file and
/// reports, its shape for one user, and what it is. Networks keep their slots as typed fields and look fast
/// tensors up by slot, never by string.
/// </summary>
/// <param name="Index">Position in <see cref="FastWeightSpec.Slots"/> (and in the flattened state).</param>
/// <param name="Name">Stable name (parameter names of learned rates derive from it).</param>
/// <param name="Shape">Shape for one user, without the user dimension.</param>
/// <param name="Kind">What the tensor is.</param>
/// <param name="Layer">The layer it belongs to (0-based), for per-layer policies.</param>
public sealed record FastSlot(int Index, string Name, long[] Shape, FastSlotKind Kind, int Layer)
{
    /// <summary>Values one user holds in this slot.</summary>
    public long Size => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>The fast-weight layout of a network: its slots in a fixed order (the order of the model file and the cache).</summary>
public sealed class FastWeightSpec
{
    private FastWeightSpec(IReadOnlyList<FastSlot> slots) => Slots = slots;

    /// <summary>The slots, in state order.</summary>
    public IReadOnlyList<FastSlot> Slots { get; }

    /// <summary>Values of one user's state.</summary>
    public long StateSize => Slots.Sum(s => s.Size);

    /// <summary>Starts a spec; <see cref="Builder.Add"/> returns each slot, for the network to keep.</summary>
    public static Builder Create() => new();

    /// <summary>Declares slots in order.</summary>
    public sealed class Builder
    {
        private readonly List<FastSlot> slots = [];
        private FastWeightSpec? built;

        /// <summary>Adds a slot when <paramref name="include"/> holds; returns it, or null when it stays shared.</summary>
        public FastSlot? Add(string name, long[] shape, FastSlotKind kind, int layer, bool include = true)
        {
            if (built is not null)
            {
                throw new InvalidOperationException("the spec is already built");
            }

            if (!include)
            {
                return null;
            }

            var slot = new FastSlot(slots.Count, name, shape, kind, layer);
            slots.Add(slot);
            return slot;
        }

        /// <summary>The spec of the slots added so far.</summary>
        public FastWeightSpec Build() => built ??= new FastWeightSpec(slots.ToArray());
    }
}

/// <summary>
/// The per-user tensors of a batch of users, one per slot of a <see cref="FastWeightSpec"/>, each with a leading
/// user dimension. These are the only values that differ between users: the service caches them, tagged with
/// the meta-model version.
/// </summary>
public sealed class FastWeights
{
    private readonly Tensor[] values;

    /// <summary>Wraps one tensor per slot of <paramref name="spec"/>, in slot order.</summary>
    public FastWeights(FastWeightSpec spec, Tensor[] values)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length != spec.Slots.Count)
        {
            throw new ArgumentException($"expected {spec.Slots.Count} fast tensors, got {values.Length}", nameof(values));
        }

        Spec = spec;
        this.values = values;
    }

    public FastWeightSpec Spec { get; }

    /// <summary>The tensors, in slot order.</summary>
    public IReadOnlyList<Tensor> Values => values;

    /// <summary>The users of the batch.</summary>
    public long Users => values.Length == 0 ? 0 : values[0].shape[0];

    /// <summary>No fast weights at all: every tensor shared (plain, non-meta use of a network).</summary>
    public static FastWeights None { get; } = new(FastWeightSpec.Create().Build(), []);

    /// <summary>The per-user tensor of <paramref name="slot"/>, or null when it is not adapted here (a null slot, or one of another spec).</summary>
    public Tensor? this[FastSlot? slot] =>
        slot is not null && slot.Index < values.Length && ReferenceEquals(Spec.Slots[slot.Index], slot) ? values[slot.Index] : null;

    /// <summary>A new state with every tensor mapped by <paramref name="map"/> (slot, tensor) -> tensor.</summary>
    public FastWeights Select(Func<FastSlot, Tensor, Tensor> map)
    {
        ArgumentNullException.ThrowIfNull(map);
        var next = new Tensor[values.Length];
        for (int i = 0; i < next.Length; i++)
        {
            next[i] = map(Spec.Slots[i], values[i]);
        }

        return new FastWeights(Spec, next);
    }

    /// <summary>Users <paramref name="start"/> .. <paramref name="start"/> + <paramref name="count"/> (views).</summary>
    public FastWeights Narrow(long start, long count) => Select((_, t) => t.narrow(0, start, count));

    /// <summary>Moves every tensor out of the current dispose scope (for state that must outlive it).</summary>
    public FastWeights MoveToOuterDisposeScope()
    {
        foreach (var t in values)
        {
            t.MoveToOuterDisposeScope();
        }

        return this;
    }

    /// <summary>Flattens each user's state into one row: [users, state size], in slot order.</summary>
    public Tensor Flatten() => values.Length == 0
        ? zeros(0, 0)
        : cat(values.Select(t => t.reshape(t.shape[0], -1)).ToArray(), 1);

    /// <summary>The inverse of <see cref="Flatten"/>: splits rows [users, state size] into the slots of <paramref name="spec"/>.</summary>
    public static FastWeights Unflatten(Tensor rows, FastWeightSpec spec)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(spec);
        var values = new Tensor[spec.Slots.Count];
        long offset = 0;
        foreach (var slot in spec.Slots)
        {
            values[slot.Index] = rows.narrow(1, offset, slot.Size).reshape([rows.shape[0], .. slot.Shape]);
            offset += slot.Size;
        }

        return new FastWeights(spec, values);
    }
}

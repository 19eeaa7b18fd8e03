using Streaming.Learning.Networks.Melu;
using Streaming.Learning.Networks.Sequential;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Learning.Networks.Mamo;

/// <summary>
/// MAMO's memories (Dong et al., KDD 2020) around any base network. The base network's representations, fast slots
/// and forward pass stay as they are; MAMO adds
/// <list type="bullet">
/// <item>a <b>feature-specific memory</b>: K keys in the user-representation space (the profile embedding, for MeLU) and
/// K values of the fast weights' shape. A user's representation attends over the keys (softmax of cosine similarity),
/// and the attended value personalises the starting point: theta_d(u) = theta_d - tau * bias(u);</item>
/// <item>a <b>task-specific memory</b>: K preference matrices [r, r]. The attended one is the initial value of a per-user
/// user-item interaction layer, prediction += (P item)^T M_u (Q user), a fast slot adapted with the others: a
/// profile-conditioned interaction before adaptation and during it.</item>
/// </list>
/// Both memories are moving averages of what adapted users ended with (<see cref="WriteMemories"/>), written by the
/// training loop only: serving and evaluation read them. They are parameters without gradients, so the model file,
/// clones and checkpoints hold them like any other weight, and Adam never steps them.
/// </summary>
/// <remarks>
/// The value memory stores, per slot, the user's whole local displacement theta_d - theta'_u (MAMO's "fast gradient",
/// summed over the inner steps). With tau &lt; 1 the personalised start moves part of the way to where similar users
/// ended, and the remaining inner steps do the rest. Not thread-safe, like every network.
/// </remarks>
public sealed class MamoNetwork : MetaNetwork
{
    /// <summary>Memory slots (MAMO's K).</summary>
    public const int MemorySize = 8;

    /// <summary>Rank of the preference matrices (the interaction layer is [r, r]).</summary>
    public const int PreferenceRank = 8;

    /// <summary>How far the attended value moves the start: theta_d(u) = theta_d - tau * bias(u).</summary>
    public const float Tau = 0.5f;

    /// <summary>Moving-average rate of the memory writes per meta-batch (a slot attended by its fair share of the batch).</summary>
    public const float WriteRate = 0.05f;

    // Cosine similarities in [-1, 1] are sharpened before the softmax, so that a user attends to a few slots.
    private const float Sharpness = 5f;

    private readonly MetaNetwork inner;
    private readonly Parameter memory_keys;
    private readonly Parameter[] memory_values;
    private readonly Parameter memory_preference;
    private readonly Parameter item_factor;
    private readonly Parameter user_factor;
    private readonly FastWeightSpec spec;
    private readonly FastSlot preference;
    private readonly MamoGradient? gradient;

    /// <summary>Wraps <paramref name="baseNetwork"/> with fresh memories (uses the global torch seed).</summary>
    /// <exception cref="ArgumentException">A base network whose representation widths MAMO does not know.</exception>
    public MamoNetwork(MetaNetwork baseNetwork) : base("mamo", (baseNetwork ?? throw new ArgumentNullException(nameof(baseNetwork))).Hyper)
    {
        inner = baseNetwork;
        (ItemDim, UserDim) = baseNetwork switch
        {
            MeluNetwork melu => (melu.InputDim / 2, melu.InputDim / 2),
            SequentialNetwork sequential => (sequential.ItemDim, sequential.UserDim),
            _ => throw new ArgumentException($"MAMO does not know the representation widths of the {baseNetwork.GetType().Name} network", nameof(baseNetwork)),
        };

        var builder = FastWeightSpec.Create();
        foreach (var slot in inner.FastSpec.Slots)
        {
            builder.Add(slot.Name, slot.Shape, slot.Kind, slot.Layer);
        }

        int layer = inner.FastSpec.Slots.Count == 0 ? 0 : inner.FastSpec.Slots.Max(s => s.Layer) + 1;
        preference = builder.Add("preference", [PreferenceRank, PreferenceRank], FastSlotKind.Weight, layer)!;
        spec = builder.Build();

        memory_keys = Frozen(randn(MemorySize, UserDim));
        memory_values = inner.FastSpec.Slots.Select(slot => Frozen(zeros([MemorySize, .. slot.Shape]))).ToArray();
        memory_preference = Frozen(zeros(MemorySize, PreferenceRank, PreferenceRank));
        item_factor = new Parameter(randn(PreferenceRank, ItemDim).div_(Math.Sqrt(ItemDim)));
        user_factor = new Parameter(randn(PreferenceRank, UserDim).div_(Math.Sqrt(UserDim)));
        register_module("base", inner);
        register_parameter("memory_keys", memory_keys);
        foreach (var slot in inner.FastSpec.Slots)
        {
            register_parameter("memory_value_" + slot.Name, memory_values[slot.Index]);
        }

        register_parameter("memory_preference", memory_preference);
        register_parameter("item_factor", item_factor);
        register_parameter("user_factor", user_factor);
        gradient = inner.HandWrittenGradient is { } handWritten ? new MamoGradient(this, handWritten) : null;
    }

    /// <summary>The wrapped network.</summary>
    public MetaNetwork Base => inner;

    /// <summary>Width of the base network's item representations.</summary>
    public int ItemDim { get; }

    /// <summary>Width of the base network's user representations (the keys' space).</summary>
    public int UserDim { get; }

    /// <summary>The per-user interaction layer's slot (after the base network's slots).</summary>
    public FastSlot PreferenceSlot => preference;

    /// <summary>The feature-specific memory's keys, [K, user dim] (read-only use: tests and reports).</summary>
    public Tensor MemoryKeys => memory_keys;

    /// <summary>The feature-specific memory's value of a base slot, [K, slot shape].</summary>
    public Tensor MemoryValue(FastSlot slot) => memory_values[(slot ?? throw new ArgumentNullException(nameof(slot))).Index];

    /// <summary>The task-specific memory, [K, r, r].</summary>
    public Tensor MemoryPreference => memory_preference;

    /// <inheritdoc />
    public override NetworkInputs Inputs => inner.Inputs;

    /// <inheritdoc />
    public override FastWeightSpec FastSpec => spec;

    /// <inheritdoc />
    public override IFastGradient? HandWrittenGradient => gradient;

    /// <inheritdoc />
    public override long ScoringWidth => inner.ScoringWidth;

    /// <inheritdoc />
    public override Tensor EmbedItems(ItemFeatureTensors items) => inner.EmbedItems(items);

    /// <inheritdoc />
    public override Tensor EncodeUsers(UserInputs users, Tensor itemEmbeddings) => inner.EncodeUsers(users, itemEmbeddings);

    /// <summary>Each user's attention over the memory slots, [users, K]: softmax of the sharpened cosine similarity to the keys.</summary>
    public Tensor Attention(Tensor users)
    {
        ArgumentNullException.ThrowIfNull(users);
        Tensor similarity = nn.functional.normalize(users, p: 2, dim: 1).matmul(nn.functional.normalize(memory_keys, p: 2, dim: 1).t());
        return softmax(similarity * Sharpness, 1);
    }

    /// <summary>The base network's start, moved by the attended memory value; the interaction layer from the task memory.</summary>
    public override FastWeights InitialFastWeights(Tensor users)
    {
        ArgumentNullException.ThrowIfNull(users);
        long b = users.shape[0];
        Tensor attention = Attention(users);
        var start = inner.InitialFastWeights(users);
        var values = new Tensor[spec.Slots.Count];
        foreach (var slot in inner.FastSpec.Slots)
        {
            Tensor bias = attention.matmul(memory_values[slot.Index].reshape(MemorySize, -1)).reshape([b, .. slot.Shape]);
            values[slot.Index] = start.Values[slot.Index] - (Tau * bias);
        }

        values[preference.Index] = attention.matmul(memory_preference.reshape(MemorySize, -1)).reshape(b, PreferenceRank, PreferenceRank);
        return new FastWeights(spec, values);
    }

    /// <inheritdoc />
    public override NetworkPass Forward(Tensor items, Tensor users, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(fast);
        var basePass = inner.Forward(items, users, BaseFast(fast));
        Tensor x = items.matmul(item_factor.t());           // [users, items, r] or [items, r]
        Tensor q = users.matmul(user_factor.t());           // [users, r]
        Tensor m = PreferenceVector(fast, q);               // [users, r] = M_u q_u
        Tensor interaction = x.dim() == 3 ? (x * m.unsqueeze(1)).sum(-1) : m.matmul(x.t());
        return new MamoPass(basePass, x, q, basePass.Prediction + interaction);
    }

    /// <inheritdoc />
    public override PreparedCatalogue PrepareCatalogue(ItemFeatureTensors items)
    {
        using var noGrad = no_grad();
        var prepared = inner.PrepareCatalogue(items);
        return new MamoCatalogue(prepared, prepared.Embeddings.matmul(item_factor.t()));
    }

    /// <inheritdoc />
    public override Tensor ScoreCatalogue(PreparedCatalogue catalogue, Tensor users, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(fast);
        if (catalogue is not MamoCatalogue prepared)
        {
            throw new ArgumentException("the catalogue was not prepared by a MAMO network", nameof(catalogue));
        }

        Tensor m = PreferenceVector(fast, users.matmul(user_factor.t()));
        return inner.ScoreCatalogue(prepared.Inner, users, BaseFast(fast)) + m.matmul(prepared.Factors.t());
    }

    /// <summary>
    /// Writes a meta-batch's adapted users into both memories by moving averages (training only; see
    /// <see cref="Methods.Mamo.MamoMethod"/>): each slot moves toward the attention-weighted mean of the users' local
    /// displacements (values), adapted interaction layers (preferences) and representations (keys), at a rate that
    /// grows with the share of the batch attending to it.
    /// </summary>
    /// <param name="users">The batch's user representations, [users, user dim].</param>
    /// <param name="adapted">Their fast weights after the inner loop.</param>
    public void WriteMemories(Tensor users, FastWeights adapted)
    {
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(adapted);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        long b = users.shape[0];
        Tensor attention = Attention(users);                                  // [B, K]
        Tensor mass = attention.sum(dim: 0);                                     // [K]
        Tensor share = attention / mass.clamp_min(1e-6).unsqueeze(0);        // columns sum to 1
        Tensor rate = (mass * (WriteRate * MemorySize / (float)b)).clamp_max(1).unsqueeze(1);   // [K, 1]
        Tensor Target(Tensor perUser) => share.t().matmul(perUser.reshape(b, -1));             // [K, size]

        var start = inner.InitialFastWeights(users);
        foreach (var slot in inner.FastSpec.Slots)
        {
            Tensor displacement = start.Values[slot.Index] - adapted.Values[slot.Index];
            Move(memory_values[slot.Index], Target(displacement), rate);
        }

        Move(memory_preference, Target(adapted.Values[preference.Index]), rate);
        Move(memory_keys, Target(users), rate);
    }

    // The base network's own view of the state: its slots are the first ones, in its order.
    internal FastWeights BaseFast(FastWeights fast) => new(inner.FastSpec, fast.Values.Take(inner.FastSpec.Slots.Count).ToArray());

    internal Tensor PreferenceVector(FastWeights fast, Tensor q) => fast[preference]!.matmul(q.unsqueeze(-1)).squeeze(-1);

    private static void Move(Tensor memory, Tensor target, Tensor rate)
    {
        var flat = memory.view(memory.shape[0], -1);
        flat.add_((target - flat) * rate);
    }

    private static Parameter Frozen(Tensor value) => new(value, requires_grad: false);
}

/// <summary>
/// MAMO's inner gradient when the base network has a hand-written one: the base slots from it, and the interaction
/// layer's in closed form, dL/dM_u = sum_i dL/dp_ui (P x_i) (Q u)^T. Checked against autograd in the tests.
/// </summary>
internal sealed class MamoGradient(MamoNetwork network, IFastGradient baseGradient) : IFastGradient
{
    public FastWeights Backward(NetworkPass pass, PassGradient gradient, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        if (pass is not MamoPass mamo)
        {
            throw new ArgumentException("not a pass of a MAMO network", nameof(pass));
        }

        var dPrediction = gradient.Prediction;
        var baseGrads = baseGradient.Backward(mamo.Base, gradient, network.BaseFast(fast));
        Tensor g = mamo.ItemFactors.dim() == 3
            ? (dPrediction.unsqueeze(-1) * mamo.ItemFactors).sum(1)
            : dPrediction.matmul(mamo.ItemFactors);
        Tensor dPreference = g.unsqueeze(2) * mamo.UserFactors.unsqueeze(1);
        return new FastWeights(fast.Spec, [.. baseGrads.Values, dPreference]);
    }
}

/// <summary>A pass of <see cref="MamoNetwork"/>: the base network's pass and the interaction layer's factors.</summary>
public sealed class MamoPass(NetworkPass basePass, Tensor itemFactors, Tensor userFactors, Tensor prediction) : NetworkPass(prediction)
{
    /// <summary>The base network's pass (its prediction excludes the interaction layer).</summary>
    public NetworkPass Base { get; } = basePass;

    /// <summary>P x: [users, items, r] or [items, r].</summary>
    public Tensor ItemFactors { get; } = itemFactors;

    /// <summary>Q u: [users, r].</summary>
    public Tensor UserFactors { get; } = userFactors;
}

/// <summary>A catalogue prepared by <see cref="MamoNetwork"/>: the base network's, and the items' interaction factors [items, r].</summary>
public sealed class MamoCatalogue(PreparedCatalogue inner, Tensor factors) : PreparedCatalogue(inner.Embeddings)
{
    /// <summary>The base network's prepared catalogue.</summary>
    public PreparedCatalogue Inner { get; } = inner;

    /// <summary>P x for every catalogue item.</summary>
    public Tensor Factors { get; } = factors;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Inner.Dispose();
            Factors.Dispose();
        }

        base.Dispose(disposing);
    }
}

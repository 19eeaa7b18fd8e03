using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Learning.Networks.Melu;

/// <summary>
/// The MeLU network (Lee et al., KDD 2019): eight feature embeddings (item: MPAA rate, genres, directors,
/// actors; user: gender, age, occupation, zip) feed a three-layer decision network that predicts the rating.
/// No user or item id is embedded, so a user or item never seen in training is still representable.
/// </summary>
/// <remarks>
/// The first layer is split into its item and user columns so that the input concat(item, user) is never
/// materialised: scoring a catalogue against many users then costs one product per layer, not a copy of the
/// catalogue per user. Which tensors adapt per user is the scope (<see cref="Hyperparameters.Scope"/>); the
/// inner gradient is written by hand in <see cref="MeluGradient"/>.
/// </remarks>
public sealed class MeluNetwork : MetaNetwork
{
    /// <summary>The name this network is registered under (<see cref="Methods.MethodCatalog"/>).</summary>
    public const string Name = "melu";

    // PyTorch-style names inside the model: they are the parameter names in the model file.
    private readonly FeatureEmbeddings embeddings;
    private readonly Parameter W1;
    private readonly Parameter b1;
    private readonly Parameter W2;
    private readonly Parameter b2;
    private readonly Parameter W3;
    private readonly Parameter b3;
    private readonly Parameter? V1;
    private readonly Parameter? V2;
    private readonly Parameter? P;
    private readonly FastWeightSpec spec;

    /// <summary>Creates a network with freshly initialised parameters (uses the global torch seed).</summary>
    /// <param name="hyper">Shapes and scope.</param>
    /// <param name="vocabularySizes">Sizes of the eight vocabularies in the order rate, genre, director, actor, gender, age, occupation, zip.</param>
    public MeluNetwork(Hyperparameters hyper, IReadOnlyList<int> vocabularySizes) : base(Name, hyper)
    {
        hyper.Validate();
        ArgumentNullException.ThrowIfNull(vocabularySizes);
        if (vocabularySizes.Count < 8)
        {
            throw new ArgumentException("expected 8 vocabulary sizes (rate, genre, director, actor, gender, age, occupation, zip)", nameof(vocabularySizes));
        }

        int e = hyper.EmbeddingDim;
        embeddings = new FeatureEmbeddings(vocabularySizes, e);

        W1 = Layers.LinearWeight(hyper.Hidden1, InputDim);
        b1 = new Parameter(zeros(hyper.Hidden1));
        W2 = Layers.LinearWeight(hyper.Hidden2, hyper.Hidden1);
        b2 = new Parameter(zeros(hyper.Hidden2));
        W3 = Layers.LinearWeight(1, hyper.Hidden2);
        b3 = new Parameter(full(1, hyper.RatingMean));
        switch (hyper.Scope)
        {
            case FastWeightScope.LowRank:
                // Shared right factors of the per-user deltas U V^T; small so that the deltas start gentle.
                V1 = new Parameter(randn(InputDim, hyper.Rank).mul_(1.0 / Math.Sqrt(InputDim)));
                V2 = new Parameter(randn(hyper.Hidden1, hyper.Rank).mul_(1.0 / Math.Sqrt(hyper.Hidden1)));
                break;
            case FastWeightScope.Context:
                P = new Parameter(randn(hyper.Hidden1, hyper.ContextDim).mul_(1.0 / Math.Sqrt(hyper.ContextDim)));
                break;
        }

        RegisterComponents();

        var scope = hyper.Scope;
        var builder = FastWeightSpec.Create();
        bool all = scope == FastWeightScope.All, lowRank = scope == FastWeightScope.LowRank;
        bool biases = all || lowRank || scope == FastWeightScope.Bias;
        bool output = all || lowRank || scope == FastWeightScope.Last;
        Slots = new MeluSlots(
            W1: builder.Add("W1", [hyper.Hidden1, InputDim], FastSlotKind.Weight, 0, all),
            U1: builder.Add("U1", [hyper.Hidden1, hyper.Rank], FastSlotKind.LowRankFactor, 0, lowRank),
            B1: builder.Add("b1", [hyper.Hidden1], FastSlotKind.Bias, 0, biases),
            W2: builder.Add("W2", [hyper.Hidden2, hyper.Hidden1], FastSlotKind.Weight, 1, all),
            U2: builder.Add("U2", [hyper.Hidden2, hyper.Rank], FastSlotKind.LowRankFactor, 1, lowRank),
            B2: builder.Add("b2", [hyper.Hidden2], FastSlotKind.Bias, 1, biases),
            W3: builder.Add("W3", [1, hyper.Hidden2], FastSlotKind.Weight, 2, output),
            B3: builder.Add("b3", [1], FastSlotKind.Bias, 2, output || scope == FastWeightScope.Bias),
            C: builder.Add("c", [hyper.ContextDim], FastSlotKind.Context, 0, scope == FastWeightScope.Context));
        spec = builder.Build();
        HandWrittenGradient = new MeluGradient(this);
    }

    /// <summary>The typed slots of this network's scope (null: shared, not adapted).</summary>
    public MeluSlots Slots { get; }

    /// <inheritdoc />
    public override NetworkInputs Inputs => NetworkInputs.Profile | NetworkInputs.ItemFeatures;

    /// <inheritdoc />
    public override FastWeightSpec FastSpec => spec;

    /// <inheritdoc />
    public override IFastGradient HandWrittenGradient { get; }

    /// <inheritdoc />
    public override long ScoringWidth => Math.Max(Hyper.Hidden1, Hyper.Hidden2);

    /// <summary>Input features of the decision network: 4 item and 4 user embeddings.</summary>
    public int InputDim => 8 * Hyper.EmbeddingDim;

    private int Half => InputDim / 2;

    /// <summary>Item embeddings: the mean of each multi-valued feature's value embeddings, concatenated: [items, 4E].</summary>
    public override Tensor EmbedItems(ItemFeatureTensors items)
    {
        ArgumentNullException.ThrowIfNull(items);
        using var scope = NewDisposeScope();
        return embeddings.Items(items, DropTokens).MoveToOuterDisposeScope();
    }

    /// <summary>User embeddings from profile indices (gender, age, occupation, zip): [users, 4E].</summary>
    public override Tensor EncodeUsers(UserInputs users, Tensor itemEmbeddings)
    {
        ArgumentNullException.ThrowIfNull(users);
        using var scope = NewDisposeScope();
        return embeddings.Users(users.Profile, DropTokens).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override FastWeights InitialFastWeights(Tensor users)
    {
        ArgumentNullException.ThrowIfNull(users);
        long b = users.shape[0];
        var values = spec.Slots.Select(slot => slot.Kind is FastSlotKind.LowRankFactor or FastSlotKind.Context
            ? zeros([b, .. slot.Shape], device: users.device)
            : Shared(slot).unsqueeze(0).expand([b, .. slot.Shape])).ToArray();
        return new FastWeights(spec, values);
    }

    /// <inheritdoc />
    public override NetworkPass Forward(Tensor items, Tensor users, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(fast);
        var s = Slots;
        Tensor w1 = fast[s.W1] ?? W1;
        // Split the first layer into item and user columns: concat(item, user) is never built.
        Tensor w1Item = w1.narrow(-1, 0, Half);
        Tensor w1User = w1.narrow(-1, Half, Half);
        Tensor z1 = items.matmul(w1Item.transpose(-1, -2))
                    + UserTerm(users, w1User).unsqueeze(1)
                    + HiddenBias(fast[s.B1], b1);
        Tensor? xv1 = null;
        if (fast[s.U1] is { } u1)
        {
            xv1 = items.matmul(V1!.narrow(0, 0, Half)) + users.matmul(V1.narrow(0, Half, Half)).unsqueeze(1);
            z1 += xv1.matmul(u1.transpose(1, 2));
        }

        if (fast[s.C] is { } c)
        {
            z1 += c.matmul(P!.t()).unsqueeze(1);
        }

        // ReLU, plus its boolean mask for the hand-written backward (a float mask cost a cast and a multiply).
        Tensor a1 = nn.functional.relu(z1);
        Tensor mask1 = z1.gt(0);

        Tensor z2 = a1.matmul((fast[s.W2] ?? W2).transpose(-1, -2)) + HiddenBias(fast[s.B2], b2);
        Tensor? a1v2 = null;
        if (fast[s.U2] is { } u2)
        {
            a1v2 = a1.matmul(V2!);
            z2 += a1v2.matmul(u2.transpose(1, 2));
        }

        Tensor a2 = nn.functional.relu(z2);
        Tensor mask2 = z2.gt(0);
        Tensor prediction = a2.matmul((fast[s.W3] ?? W3).transpose(-1, -2)).squeeze(-1) + (fast[s.B3] ?? b3);
        return new MeluPass(items, users, mask1, a1, xv1, mask2, a2, a1v2, prediction);
    }

    /// <summary>
    /// The catalogue side of serving: item embeddings and their products with the shared first-layer weights (used
    /// whenever those weights do not adapt per user).
    /// </summary>
    public override PreparedCatalogue PrepareCatalogue(ItemFeatureTensors items)
    {
        ArgumentNullException.ThrowIfNull(items);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor embeddings = EmbedItems(items);
        Tensor layer1 = embeddings.matmul(W1.narrow(1, 0, Half).t());
        Tensor? v1 = V1 is null ? null : embeddings.matmul(V1.narrow(0, 0, Half));
        return new MeluCatalogue(embeddings.MoveToOuterDisposeScope(), layer1.MoveToOuterDisposeScope(), v1?.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Serving only (no autograd): scores every catalogue item for every user, [users, items]. Same values as
    /// <see cref="Forward"/> on the catalogue, computed item-major ([items, users, hidden]) so that each layer
    /// is one large matrix product, with plain ReLUs instead of the masks the hand-written backward needs.
    /// Checked against <see cref="Forward"/> in the tests.
    /// </summary>
    public override Tensor ScoreCatalogue(PreparedCatalogue catalogue, Tensor users, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(fast);
        if (catalogue is not MeluCatalogue prepared)
        {
            throw new ArgumentException("the catalogue was not prepared by a MeLU network", nameof(catalogue));
        }

        var s = Slots;
        long n = prepared.Embeddings.shape[0], b = users.shape[0];
        long h1 = Hyper.Hidden1, r = Hyper.Rank;

        Tensor z1;        // [items, users, H1], or [items, 1, H1] while it is shared
        Tensor rowBias;   // [users, H1]: everything in layer 1 that does not depend on the item
        if (fast[s.W1] is { } w1)
        {
            z1 = prepared.Embeddings.matmul(w1.narrow(2, 0, Half).reshape(b * h1, Half).t()).view(n, b, h1);
            rowBias = users.unsqueeze(1).matmul(w1.narrow(2, Half, Half).transpose(1, 2)).squeeze(1);
        }
        else
        {
            z1 = prepared.Layer1.unsqueeze(1);
            rowBias = users.matmul(W1.narrow(1, Half, Half).t());
        }

        rowBias = rowBias + (fast[s.B1] ?? b1);
        if (fast[s.U1] is { } u1)
        {
            z1 = z1 + prepared.V1!.matmul(u1.reshape(b * h1, r).t()).view(n, b, h1);
            rowBias = rowBias + users.matmul(V1!.narrow(0, Half, Half)).unsqueeze(1).matmul(u1.transpose(1, 2)).squeeze(1);
        }

        if (fast[s.C] is { } c)
        {
            rowBias = rowBias + c.matmul(P!.t());
        }

        Tensor a1 = nn.functional.relu(z1 + rowBias);
        Tensor z2 = fast[s.W2] is { } w2
            ? a1.transpose(0, 1).bmm(w2.transpose(1, 2)).transpose(0, 1)
            : a1.matmul(W2.t());
        if (fast[s.U2] is { } u2)
        {
            z2 = z2 + a1.matmul(V2!).transpose(0, 1).bmm(u2.transpose(1, 2)).transpose(0, 1);
        }

        Tensor a2 = nn.functional.relu(z2 + (fast[s.B2] ?? b2));
        Tensor scores = fast[s.W3] is { } w3
            ? a2.mul_(w3.squeeze(1)).sum(-1)
            : a2.matmul(W3.t()).squeeze(-1);
        return scores.t() + (fast[s.B3] ?? b3);
    }

    // Shared tensors the hand-written backward needs (MeluGradient).
    internal Tensor SharedW2 => W2;

    internal Tensor SharedW3 => W3;

    internal Tensor? SharedV2 => V2;

    internal Tensor? SharedP => P;

    private Parameter Shared(FastSlot slot) => slot.Name switch
    {
        "W1" => W1,
        "b1" => b1,
        "W2" => W2,
        "b2" => b2,
        "W3" => W3,
        "b3" => b3,
        _ => throw new ArgumentOutOfRangeException(nameof(slot), slot.Name, "no shared tensor"),
    };

    // A per-user hidden bias [B, H] broadcasts over items as [B, 1, H].
    private static Tensor HiddenBias(Tensor? perUser, Tensor shared) => perUser is null ? shared : perUser.unsqueeze(1);

    private static Tensor UserTerm(Tensor userEmbeddings, Tensor w1User) => w1User.dim() == 3
        ? userEmbeddings.unsqueeze(1).matmul(w1User.transpose(1, 2)).squeeze(1)
        : userEmbeddings.matmul(w1User.t());

    // Token dropout (training only): see Hyperparameters.TokenDropout.
    private Tensor DropTokens(Tensor index) => training && Hyper.TokenDropout > 0
        ? index.masked_fill(rand(index.shape, device: index.device).lt(Hyper.TokenDropout), 0)
        : index;
}

/// <summary>The MeLU network's fast slots; null where the scope keeps the tensor shared.</summary>
public sealed record MeluSlots(FastSlot? W1, FastSlot? U1, FastSlot? B1, FastSlot? W2, FastSlot? U2, FastSlot? B2, FastSlot? W3, FastSlot? B3, FastSlot? C);

/// <summary>A catalogue prepared by <see cref="MeluNetwork"/>: embeddings [items, 4E], their first-layer product [items, H1], and for the low-rank scope their projection on V1 [items, r].</summary>
public sealed class MeluCatalogue(Tensor embeddings, Tensor layer1, Tensor? v1) : PreparedCatalogue(embeddings)
{
    public Tensor Layer1 { get; } = layer1;

    public Tensor? V1 { get; } = v1;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Layer1.Dispose();
            V1?.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>What one pass of the MeLU decision network leaves for the hand-written backward.</summary>
public sealed class MeluPass(Tensor itemEmbeddings, Tensor userEmbeddings, Tensor mask1, Tensor a1, Tensor? xv1, Tensor mask2, Tensor a2, Tensor? a1v2, Tensor prediction)
    : NetworkPass(prediction)
{
    public Tensor ItemEmbeddings { get; } = itemEmbeddings;

    public Tensor UserEmbeddings { get; } = userEmbeddings;

    public Tensor Mask1 { get; } = mask1;

    public Tensor A1 { get; } = a1;

    public Tensor? XV1 { get; } = xv1;

    public Tensor Mask2 { get; } = mask2;

    public Tensor A2 { get; } = a2;

    public Tensor? A1V2 { get; } = a1v2;
}

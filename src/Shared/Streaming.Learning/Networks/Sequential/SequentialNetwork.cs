using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Learning.Networks.Sequential;

/// <summary>
/// The shared frame of the sequential base networks (RecBole's <c>SequentialRecommender</c>, for meta-learning): items
/// are embedded from their side features (no item id, so a new item is representable), each history position carries
/// its item's vector plus an embedding of its rating, a subclass encodes the ordered positions into one vector, and a
/// small decision head scores concat(item, profile, sequence). Only the head adapts per user; the encoder is shared and
/// meta-learned, and autograd differentiates the inner loss (no hand-written backward).
/// </summary>
/// <remarks>
/// The history is read as given, oldest first (the service bounds it by <c>Sessions:MaxHistory</c>; the MeLU protocol
/// gives the support set in the file's within-user order, as this MovieLens copy has no timestamps). Which head tensors
/// adapt is the scope: <see cref="FastWeightScope.All"/> (both layers), <see cref="FastWeightScope.Last"/> (the output
/// layer) or <see cref="FastWeightScope.Bias"/> (both biases).
/// </remarks>
public abstract class SequentialNetwork : MetaNetwork
{
    // PyTorch-style names inside the model: they are the parameter names in the model file.
    private readonly FeatureEmbeddings embeddings;
    private readonly Linear item_projection;
    private readonly Linear profile_projection;
    private readonly Embedding rating_embedding;
    private readonly Parameter W1;
    private readonly Parameter b1;
    private readonly Parameter W2;
    private readonly Parameter b2;
    private readonly FastWeightSpec spec;

    /// <summary>Builds the shared parts (uses the global torch seed); the subclass registers its encoder.</summary>
    /// <param name="name">The registered network name.</param>
    /// <param name="hyper">Shapes and scope: feature and model width <see cref="Hyperparameters.EmbeddingDim"/>, head width <see cref="Hyperparameters.Hidden1"/>.</param>
    /// <param name="vocabularySizes">Sizes of the eight vocabularies in the order rate, genre, director, actor, gender, age, occupation, zip.</param>
    /// <exception cref="ArgumentException">A scope the head does not offer (low rank, context).</exception>
    protected SequentialNetwork(string name, Hyperparameters hyper, IReadOnlyList<int> vocabularySizes) : base(name, hyper)
    {
        hyper.Validate();
        ArgumentNullException.ThrowIfNull(vocabularySizes);
        if (vocabularySizes.Count < 8)
        {
            throw new ArgumentException("expected 8 vocabulary sizes (rate, genre, director, actor, gender, age, occupation, zip)", nameof(vocabularySizes));
        }

        if (hyper.Scope is not (FastWeightScope.All or FastWeightScope.Last or FastWeightScope.Bias))
        {
            throw new ArgumentException($"the {name} network adapts its head with scope all, last or bias, not {hyper.Scope.ToString().ToLowerInvariant()}", nameof(hyper));
        }

        int e = hyper.EmbeddingDim, h = hyper.Hidden1;
        embeddings = new FeatureEmbeddings(vocabularySizes, e);
        item_projection = nn.Linear(4 * e, e);
        profile_projection = nn.Linear(4 * e, e);
        // Index 0: rating unknown (plain regression, where the history is the rated item itself); 1..5: the stars.
        rating_embedding = Layers.Embedding(6, e);
        W1 = Layers.LinearWeight(h, 3 * e);
        b1 = new Parameter(zeros(h));
        W2 = Layers.LinearWeight(1, h);
        b2 = new Parameter(full(1, hyper.RatingMean));

        // Registered by name rather than RegisterComponents: that reflects over the runtime type's own fields, which
        // leaves out this base class's private ones.
        foreach (var (n, m) in new (string, nn.Module)[]
        {
            ("embeddings", embeddings), ("item_projection", item_projection), ("profile_projection", profile_projection),
            ("rating_embedding", rating_embedding),
        })
        {
            register_module(n, m);
        }

        register_parameter("W1", W1);
        register_parameter("b1", b1);
        register_parameter("W2", W2);
        register_parameter("b2", b2);

        var scope = hyper.Scope;
        var builder = FastWeightSpec.Create();
        Slots = new SequentialSlots(
            W1: builder.Add("W1", [h, 3 * e], FastSlotKind.Weight, 0, scope == FastWeightScope.All),
            B1: builder.Add("b1", [h], FastSlotKind.Bias, 0, scope is FastWeightScope.All or FastWeightScope.Bias),
            W2: builder.Add("W2", [1, h], FastSlotKind.Weight, 1, scope is FastWeightScope.All or FastWeightScope.Last),
            B2: builder.Add("b2", [1], FastSlotKind.Bias, 1, true));
        spec = builder.Build();
    }

    /// <summary>The head's typed slots (null: shared, not adapted).</summary>
    public SequentialSlots Slots { get; }

    /// <inheritdoc />
    public override NetworkInputs Inputs => NetworkInputs.Profile | NetworkInputs.ItemFeatures | NetworkInputs.Sequence;

    /// <inheritdoc />
    public override FastWeightSpec FastSpec => spec;

    /// <inheritdoc />
    public override long ScoringWidth => Hyper.Hidden1;

    /// <summary>Width of item vectors, history positions and the sequence vector.</summary>
    protected int ModelDim => Hyper.EmbeddingDim;

    /// <summary>Width of the item representations (<see cref="EmbedItems"/>).</summary>
    public int ItemDim => ModelDim;

    /// <summary>Width of the user representations (<see cref="EncodeUsers"/>): profile and sequence vectors.</summary>
    public int UserDim => 2 * ModelDim;

    /// <summary>Item vectors from the side features: [items, model dim].</summary>
    public override Tensor EmbedItems(ItemFeatureTensors items)
    {
        ArgumentNullException.ThrowIfNull(items);
        using var scope = NewDisposeScope();
        var features = embeddings.Items(items);
        return item_projection.call(features).MoveToOuterDisposeScope();
    }

    /// <summary>concat(profile vector, sequence vector): [users, 2 model dim].</summary>
    public override Tensor EncodeUsers(UserInputs users, Tensor itemEmbeddings)
    {
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(itemEmbeddings);
        using var scope = NewDisposeScope();
        var p = users.Profile;
        Tensor profile = tanh(profile_projection.call(embeddings.Users(p)));

        var rows = users.HistoryRows;
        long b = rows.shape[0], length = rows.shape[1];
        Tensor mask = users.HistoryMask;
        Tensor stars = users.HistoryRatings is { } ratings
            ? ratings.round().clamp(0, 5).to_type(ScalarType.Int64) * mask.to_type(ScalarType.Int64)
            : zeros_like(rows);
        Tensor positions = itemEmbeddings.index_select(0, rows.flatten()).reshape(b, length, -1) + rating_embedding.call(stars);
        positions = positions * mask.unsqueeze(-1);
        Tensor sequence = EncodeSequence(positions, mask);
        return cat([profile, sequence], 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The ordered history as one vector per user, [users, model dim]: <paramref name="positions"/> is
    /// [users, length, model dim] (oldest first, padding at the end and zeroed), <paramref name="mask"/> [users, length].
    /// A user without history gets a zero vector.
    /// </summary>
    protected abstract Tensor EncodeSequence(Tensor positions, Tensor mask);

    /// <inheritdoc />
    public override FastWeights InitialFastWeights(Tensor users)
    {
        ArgumentNullException.ThrowIfNull(users);
        long b = users.shape[0];
        return new FastWeights(spec, spec.Slots.Select(slot => Shared(slot).unsqueeze(0).expand([b, .. slot.Shape])).ToArray());
    }

    /// <inheritdoc />
    public override NetworkPass Forward(Tensor items, Tensor users, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(fast);
        var s = Slots;
        int e = ModelDim;
        Tensor w1 = fast[s.W1] ?? W1;
        // The first layer split into item and user columns, so concat(item, user) is never built per item.
        Tensor w1Item = w1.narrow(-1, 0, e);
        Tensor w1User = w1.narrow(-1, e, 2 * e);
        Tensor userTerm = w1User.dim() == 3
            ? users.unsqueeze(1).matmul(w1User.transpose(1, 2)).squeeze(1)
            : users.matmul(w1User.t());
        Tensor bias1 = fast[s.B1] is { } perUser ? perUser : b1.unsqueeze(0);
        Tensor a1 = nn.functional.relu(items.matmul(w1Item.transpose(-1, -2)) + (userTerm + bias1).unsqueeze(1));
        Tensor prediction = a1.matmul((fast[s.W2] ?? W2).transpose(-1, -2)).squeeze(-1) + (fast[s.B2] ?? b2);
        return new NetworkPass(prediction);
    }

    /// <summary>The output at each user's last real position of [users, length, dim] outputs (zero for an empty history).</summary>
    protected static Tensor LastPosition(Tensor outputs, Tensor mask)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(mask);
        Tensor lengths = mask.sum(1).to_type(ScalarType.Int64);
        Tensor index = (lengths - 1).clamp_min(0).view(-1, 1, 1).expand(-1, 1, outputs.shape[2]);
        return outputs.gather(1, index).squeeze(1) * lengths.gt(0).unsqueeze(1).to_type(outputs.dtype);
    }

    private Parameter Shared(FastSlot slot) => slot.Name switch
    {
        "W1" => W1,
        "b1" => b1,
        "W2" => W2,
        "b2" => b2,
        _ => throw new ArgumentOutOfRangeException(nameof(slot), slot.Name, "no shared tensor"),
    };
}

/// <summary>The sequential networks' head slots; null where the scope keeps the tensor shared.</summary>
public sealed record SequentialSlots(FastSlot? W1, FastSlot? B1, FastSlot? W2, FastSlot? B2);

using System.Globalization;
using Streaming.Learning.Inputs;
using Streaming.Learning.Networks.ItemItem;
using Streaming.Shared.Data;
using Streaming.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Learning.Networks.Mml;

/// <summary>
/// MML (Pan et al.): one meta-learner per modality and a learned fusion of their predictions, with a cold-start item
/// embedding generator, around the item-item network.
/// <list type="bullet">
/// <item>The <b>ID/feature learner</b> is the item-item network as it is (EASE layer, adapted two-tower list vector,
/// rating head; its four fast slots).</item>
/// <item>The <b>text learner</b> reads each item's text vector (title, genres and plot through an
/// <see cref="ITextEncoder"/>): a rating r_text(u, i) = mu + c_i + b_u + v_u . P t_i with its own fast slots v_u (D)
/// and b_u (1), adapted in the same inner loop.</item>
/// <item>The <b>fusion</b> weighs the two rating predictions per user and item: r = g r_id + (1 - g) r_text with
/// g = sigmoid(f(profile) + h(t_i, known_i)), meta-learned (shared, not adapted).</item>
/// <item>The <b>content learner</b> rates the items that have no identity (new items): r_content(u, i) = p_i + c_u, with
/// p_i the closed-form <see cref="ContentRatingPrior"/> (what the training ratings say of the item's MPAA rate, genres,
/// directors and actors; a training item's own ratings always left out) and c_u its own fast slot, a user bias adapted
/// in the same inner loop. For such an item the rating is (1 - s) r + s r_content with s = sigmoid(a meta-learned
/// scalar): training drops identities at random, and those items are where s and the start of c_u learn. Items with
/// an identity keep r. Measured on MovieLens-1M's held-out new users and new items (seed 1): s learned 0.415, and
/// the new-item MAE went from 0.8726 to 0.8650 in whole stars (0.8999 to 0.8930 for the expected rating). Two earlier
/// placements of the same prior, added to the generated rating bias or to the fused rating with a learned trust and no
/// user bias of its own, made it worse (0.904 and 0.907 for the expected rating, against 0.898).</item>
/// <item>The <b>generator</b> (<see cref="TextItemGenerator"/>) maps an item's side features and text vector into the
/// ID learner's item space. Items without an identity embedding (never seen in training, or added to the catalogue
/// while serving) take the generated embedding instead of the shared "unknown" one, so they get a warm list and
/// rating representation at once. It is trained end to end: training drops known identities at random
/// (<see cref="ItemItemNetwork.IdentityDropout"/>) and the generated embedding stands in for them.</item>
/// </list>
/// The list is the ID learner's (its normaliser too); text enters it through the generated embeddings of
/// identity-less items. The image modality is an extension point: a second <see cref="ITextEncoder"/>-like vector per
/// item would feed the generator and a third learner the same way.
/// </summary>
/// <remarks>
/// Text vectors are computed once per item and text, and kept by the network: a catalogue reload encodes only the
/// items it has not seen (<see cref="ItemTextVectors"/>). With the TF-IDF encoder the IDF is fitted on the training
/// catalogue (<see cref="Fit"/>) and stored in the model file (<c>text_idf</c>), so serving encodes new items exactly
/// as training did. Not thread-safe, like every network.
/// </remarks>
public sealed class MmlNetwork : MetaNetwork, ITrainingDataFit, IServedListCalibration
{
    /// <summary>The name the generator and fusion layers are saved under (the base network keeps its own name).</summary>
    public const string ModuleName = "mml";

    private readonly ItemItemNetwork inner;
    private readonly TextItemGenerator generator;
    private readonly Linear text_item;
    private readonly Linear text_user;
    private readonly Linear fusion_user;
    private readonly Linear fusion_item;
    private readonly Parameter text_mu;
    private readonly ContentRatingPrior prior;
    private readonly Parameter content_share;
    private readonly Parameter content_start;
    private readonly Parameter? text_idf;
    private readonly FastWeightSpec spec;
    private readonly int innerSlots;

    // Vectors already computed in this process, by encoder identity (name and fitted state): a model loaded again for a
    // changed catalogue (the Adapter prepares a fresh copy) starts from them and encodes only the items it lacks.
    private static readonly Dictionary<string, ItemTextVectors> Encoded = new(StringComparer.Ordinal);

    private ITextEncoder? encoder;
    private ItemTextVectors? vectors;
    private ItemFeatureTable? textTable;
    private Tensor? textTensor;

    /// <summary>Wraps <paramref name="baseNetwork"/> (uses the global torch seed for the new layers).</summary>
    /// <exception cref="ArgumentException">A base network other than the item-item network, or an unknown text encoder.</exception>
    public MmlNetwork(MetaNetwork baseNetwork) : base(ModuleName, (baseNetwork ?? throw new ArgumentNullException(nameof(baseNetwork))).Hyper)
    {
        inner = baseNetwork as ItemItemNetwork
            ?? throw new ArgumentException($"MML builds on the {ItemItemNetwork.Name} network, not {baseNetwork.GetType().Name} (train it with --network {ItemItemNetwork.Name})", nameof(baseNetwork));
        if (!TextEncoders.Names.Contains(Hyper.TextEncoder))
        {
            throw new ArgumentException($"unknown text encoder '{Hyper.TextEncoder}' (known: {string.Join(", ", TextEncoders.Names)})", nameof(baseNetwork));
        }

        int d = Hyper.Hidden1, e4 = 4 * Hyper.EmbeddingDim;
        TextDim = Hyper.TextEncoder == HashedTfIdfEncoder.EncoderName ? Hyper.TextDim : MiniLmEncoder.VectorDimension;
        generator = new TextItemGenerator(e4, TextDim, Hyper.Hidden2, inner.LearnedItemDim, items => TextVectors(items));
        text_item = nn.Linear(TextDim, d + 1);
        text_user = nn.Linear(e4 + d, d + 1);
        fusion_user = nn.Linear(e4, 1);
        fusion_item = nn.Linear(TextDim + 1, 1);
        text_mu = new Parameter(full(1, Hyper.RatingMean));
        prior = new ContentRatingPrior(inner.Features);
        content_share = new Parameter(zeros(1));   // s = 0.5 at first; training moves it
        content_start = new Parameter(zeros(1));
        if (Hyper.TextEncoder == HashedTfIdfEncoder.EncoderName)
        {
            text_idf = new Parameter(zeros(TextDim), requires_grad: false);
        }

        RegisterComponents();
        inner.Generator = generator;
        using (no_grad())
        {
            // The fusion starts at the ID learner (g = sigmoid(2) = 0.88): the text learner earns its weight in training.
            fusion_user.weight!.zero_();
            fusion_user.bias!.fill_(2);
            fusion_item.weight!.mul_(0.1);
            fusion_item.bias!.zero_();
        }

        var builder = FastWeightSpec.Create();
        foreach (var slot in inner.FastSpec.Slots)
        {
            builder.Add(slot.Name, slot.Shape, slot.Kind, slot.Layer);
        }

        innerSlots = inner.FastSpec.Slots.Count;
        int layer = inner.FastSpec.Slots.Max(s => s.Layer) + 1;
        TextVector = builder.Add("vt", [d], FastSlotKind.Embedding, layer)!;
        TextBias = builder.Add("bt", [1], FastSlotKind.Bias, layer)!;
        ContentBias = builder.Add("bc", [1], FastSlotKind.Bias, layer + 1)!;
        spec = builder.Build();
    }

    /// <summary>The ID/feature learner.</summary>
    public ItemItemNetwork IdLearner => inner;

    /// <summary>The text learner's per-user vector slot.</summary>
    public FastSlot TextVector { get; }

    /// <summary>The text learner's per-user bias slot.</summary>
    public FastSlot TextBias { get; }

    /// <summary>The content learner's per-user bias slot.</summary>
    public FastSlot ContentBias { get; }

    /// <summary>The content learner's share s of an identity-less item's rating.</summary>
    public double ContentShare => content_share.sigmoid().item<float>();

    /// <summary>Length of an item's text vector.</summary>
    public int TextDim { get; }

    /// <summary>Items with a text vector (the last catalogue's).</summary>
    public int EncodedItems => vectors?.ItemIds.Count ?? 0;

    /// <summary>Texts this network had to encode so far (new or changed items; the others were known in this process).</summary>
    public int TextsEncoded { get; private set; }

    /// <inheritdoc />
    public override NetworkInputs Inputs => inner.Inputs | NetworkInputs.ItemText;

    /// <inheritdoc />
    public override FastWeightSpec FastSpec => spec;

    /// <inheritdoc />
    public override long ScoringWidth => inner.ScoringWidth;

    /// <summary>Fits the TF-IDF encoder's IDF on the training catalogue's texts, the content rating prior, then the ID learner's closed-form layer.</summary>
    public string Fit(TrainingDataFit data)
    {
        ArgumentNullException.ThrowIfNull(data);
        string text = $"text encoder {Hyper.TextEncoder} ({TextDim} dims)";
        if (text_idf is not null)
        {
            var tfidf = HashedTfIdfEncoder.Fit(data.Catalogue.Texts, TextDim);
            using (no_grad())
            {
                text_idf.copy_(tensor(tfidf.Idf.ToArray()).to(text_idf.device));
            }

            ResetEncoder(tfidf);
            text += string.Create(CultureInfo.InvariantCulture, $", IDF fitted on {data.Catalogue.Count} training items");
        }

        text += "; " + prior.Fit(data.Train, data.Catalogue, id => inner.Features.ItemIdIndex(id));
        return $"{text}; {inner.Fit(data)}";
    }

    /// <summary>
    /// Item representations: the ID learner's columns (identity-less items generated from side features and text), then
    /// the text learner's P t (D) and item bias, the fusion's item term, then the content prior's rating.
    /// </summary>
    public override Tensor EmbedItems(ItemFeatureTensors items)
    {
        ArgumentNullException.ThrowIfNull(items);
        using var scope = NewDisposeScope();
        var id = inner.EmbedItems(items);
        var text = TextVectors(items);
        var known = id.select(1, inner.ItemDim - 1).gt(0).to(float32).unsqueeze(1);
        // The prior of a training item always leaves its own ratings out (its true identity, not the one dropout left).
        var identity = tensor(inner.IdentityRows(items.Table), device: text.device);
        var content = prior.PredictRating(items, identity).unsqueeze(1);
        var result = cat([id, text_item.call(text), fusion_item.call(cat([text, known], 1)), content], 1);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>User representations: the mean P t of the history items, then the ID learner's (which ends with the EASE scores).</summary>
    public override Tensor EncodeUsers(UserInputs users, Tensor itemEmbeddings)
    {
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(itemEmbeddings);
        var id = inner.EncodeUsers(users, IdColumns(itemEmbeddings));
        using var scope = NewDisposeScope();
        var rows = users.HistoryRows;
        var mask = users.HistoryMask.unsqueeze(-1);
        var text = itemEmbeddings.narrow(1, inner.ItemDim, Hyper.Hidden1).index_select(0, rows.flatten()).reshape(rows.shape[0], rows.shape[1], -1);
        var mean = (text * mask).sum(1) / mask.sum(1).clamp_min(1);
        return cat([mean, id], 1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override FastWeights InitialFastWeights(Tensor users)
    {
        ArgumentNullException.ThrowIfNull(users);
        int d = Hyper.Hidden1;
        var id = IdUsers(users);
        var idFast = inner.InitialFastWeights(id);
        var mean = users.narrow(1, 0, d);
        var start = text_user.call(cat([Profile(id), mean], 1));
        return new FastWeights(spec, [.. idFast.Values, mean + start.narrow(1, 0, d), start.narrow(1, d, 1), content_start.expand(users.shape[0], 1)]);
    }

    /// <summary>The fused rating (with the content learner's share for identity-less items), with the ID learner's list scores and normaliser.</summary>
    public override NetworkPass Forward(Tensor items, Tensor users, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(fast);
        if (!ReferenceEquals(fast.Spec, spec))
        {
            fast = InitialFastWeights(users);
        }

        int d = Hyper.Hidden1, at = inner.ItemDim;
        var id = IdUsers(users);
        var pass = (RankingPass)inner.Forward(IdColumns(items), id, InnerFast(fast));
        Tensor p = items.narrow(-1, at, d), bias = items.select(-1, at + d), itemGate = items.select(-1, at + d + 1);
        Tensor v = fast[TextVector]!, b = fast[TextBias]!;
        var interaction = items.dim() == 3 ? p.matmul(v.unsqueeze(-1)).squeeze(-1) : v.matmul(p.t());
        var text = text_mu + bias + b + interaction;
        var gate = (fusion_user.call(Profile(id)) + itemGate).sigmoid();
        var fused = (gate * pass.Prediction) + ((1 - gate) * text);
        var content = items.select(-1, at + d + 2) + fast[ContentBias]!;
        var share = content_share.sigmoid() * items.select(-1, at - 1).le(0).to(float32);
        var rating = fused + (share * (content - fused));
        return new RankingPass(rating, pass.RankScores, () => pass.CatalogueLogSumExp);
    }

    /// <inheritdoc />
    public IReadOnlyList<double> ServedWeights => ItemItemNetwork.ServedEaseWeights;

    /// <summary>The served list is the ID learner's: its served EASE weight (<see cref="ItemItemNetwork.ServedEaseWeight"/>).</summary>
    public double ServedWeight
    {
        get => inner.ServedEaseWeight;
        set => inner.ServedEaseWeight = value;
    }

    /// <inheritdoc />
    public override IReadOnlyCollection<string> ParametersAddedLater => [.. inner.ParametersAddedLater.Select(name => $"{nameof(inner)}.{name}")];

    /// <summary>Serving: the ID learner's list over the catalogue.</summary>
    public override Tensor ScoreCatalogue(PreparedCatalogue catalogue, Tensor users, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(catalogue);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(fast);
        return inner.ScoreCatalogue(new PreparedCatalogue(IdColumns(catalogue.Embeddings)), IdUsers(users), InnerFast(fast));
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            textTensor?.Dispose();
            (encoder as IDisposable)?.Dispose();
        }

        base.Dispose(disposing);
    }

    private Tensor IdColumns(Tensor items) => items.narrow(-1, 0, inner.ItemDim);

    private Tensor IdUsers(Tensor users) => users.narrow(1, Hyper.Hidden1, users.shape[1] - Hyper.Hidden1);

    private Tensor Profile(Tensor idUsers) => idUsers.narrow(1, 0, 4 * Hyper.EmbeddingDim);

    private FastWeights InnerFast(FastWeights fast) => new(inner.FastSpec, [.. fast.Values.Take(innerSlots)]);

    // [items, T] text vectors of the table's rows, on the items' device; cached per table, encoding only new items.
    private Tensor TextVectors(ItemFeatureTensors items)
    {
        if (ReferenceEquals(items.Table, textTable) && textTensor is { IsInvalid: false } cached && cached.device == items.Rate.device)
        {
            return cached;
        }

        var catalogue = items.Table.ItemIds.Zip(items.Table.Texts, (id, text) => (id, text)).ToArray();
        var encoderNow = Encoder();
        string key = $"{encoderNow.Name}/{encoderNow.Dimension}/{(encoderNow as IFittedTextEncoder)?.Fingerprint}";
        lock (Encoded)
        {
            vectors ??= Encoded.GetValueOrDefault(key);
            vectors = vectors is null ? ItemTextVectors.Build(encoderNow, catalogue) : vectors.With(encoderNow, catalogue);
            Encoded[key] = vectors;
            TextsEncoded += vectors.EncodedCount;
        }

        var flat = new float[(long)catalogue.Length * TextDim];
        for (int row = 0; row < catalogue.Length; row++)
        {
            if (vectors.TryGet(catalogue[row].id, out var vector))
            {
                vector.CopyTo(flat.AsSpan(row * TextDim, TextDim));
            }
        }

        textTensor?.Dispose();
        textTensor = tensor(flat, device: items.Rate.device).reshape(catalogue.Length, TextDim).DetachFromDisposeScope();
        textTable = items.Table;
        return textTensor;
    }

    private ITextEncoder Encoder()
    {
        if (encoder is not null)
        {
            return encoder;
        }

        ResetEncoder(text_idf is null
            ? TextEncoders.Create(Hyper.TextEncoder)
            : new HashedTfIdfEncoder(text_idf.detach().cpu().data<float>().ToArray()));
        return encoder!;
    }

    private void ResetEncoder(ITextEncoder value)
    {
        (encoder as IDisposable)?.Dispose();
        encoder = value;
        vectors = null;
        textTable = null;
    }
}

/// <summary>
/// MML's cold-start item embedding generator: an item's pooled side-feature embeddings and text vector, through one
/// hidden layer, into the item-item network's learned item space: a residual on top of the shared unknown-identity
/// embedding, scaled by a gate that is learned only on items the rest of the generator is not fitted on.
/// </summary>
/// <remarks>
/// Why the gate is cross-fitted: trained end to end on every item, the generator fitted the training items' own texts
/// (a TF-IDF vector nearly names its item), which helps those items in training and nothing it has never seen. On
/// MovieLens-1M's new items (seed 1) that model's lists had recall@20 0.0767 and MAE 0.8979, and the same file with
/// its residual switched off 0.0882 and 0.8951 (the gate had gone to -0.16). So in training a fixed fifth of the
/// items (<see cref="IsGateItem"/>, a stable hash of the id) trains only the gate, on the generator's output as it is
/// (detached), and the other items train only the rest, at full scale: the gate says how far the generator can be
/// trusted on items it has not fitted, which is what every item it serves is. Serving scales every item by it.
/// Measured the same way: the gate learned 0.47, and new items had recall@20 0.0886 and MAE 0.8999 (existing items
/// 0.3985 and 0.7279).
/// </remarks>
public sealed class TextItemGenerator : nn.Module, IItemEmbeddingGenerator
{
    /// <summary>One item in this many trains the gate (and not the rest of the generator).</summary>
    public const int GateItemEvery = 5;

    private readonly Linear generator_hidden;
    private readonly Linear generator_out;
    private readonly Parameter generator_gate;
    private readonly Parameter generator_borrow;
    private readonly Func<ItemFeatureTensors, Tensor> text;

    // The gate items of the last table seen, [items, 1] (one mask per table, not per batch).
    private ItemFeatureTable? gateTable;
    private Tensor? gateRows;

    /// <summary>A fresh generator (global torch seed).</summary>
    /// <param name="sideDim">Width of the side-feature embeddings (4E).</param>
    /// <param name="textDim">Width of the text vectors.</param>
    /// <param name="hidden">Hidden width.</param>
    /// <param name="outDim">The learned item space's width.</param>
    /// <param name="text">The text vectors of a set of items, [items, textDim].</param>
    public TextItemGenerator(int sideDim, int textDim, int hidden, int outDim, Func<ItemFeatureTensors, Tensor> text) : base("generator")
    {
        this.text = text;
        generator_hidden = nn.Linear(sideDim + textDim, hidden);
        generator_out = nn.Linear(hidden, outDim);
        generator_gate = new Parameter(zeros(1));   // starts at the unknown-identity embedding; learns how far to move
        generator_borrow = new Parameter(zeros(1)); // starts borrowing no EASE score (see BorrowWeight)
        RegisterComponents();
        using (no_grad())
        {
            generator_out.weight!.mul_(0.1);
            generator_out.bias!.zero_();
        }
    }

    /// <inheritdoc />
    public Tensor BorrowWeight => generator_borrow;

    /// <summary>Whether an item trains the gate, not the rest of the generator (a stable hash of its id: the same items every run).</summary>
    public static bool IsGateItem(int itemId) => (uint)itemId * 2654435761u % GateItemEvery == 0;

    /// <inheritdoc />
    public Tensor Generate(ItemFeatureTensors items, Tensor sideEmbeddings)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(sideEmbeddings);
        var generated = generator_out.call(nn.functional.relu(generator_hidden.call(cat([sideEmbeddings, text(items)], 1))));
        return training ? (generator_gate * generated.detach()).where(GateRows(items), generated) : generator_gate * generated;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            gateRows?.Dispose();
        }

        base.Dispose(disposing);
    }

    private Tensor GateRows(ItemFeatureTensors items)
    {
        if (!ReferenceEquals(items.Table, gateTable) || gateRows is not { IsInvalid: false } rows || rows.device != items.Rate.device)
        {
            gateRows?.Dispose();
            gateRows = tensor(items.Table.ItemIds.Select(IsGateItem).ToArray(), device: items.Rate.device).unsqueeze(1).DetachFromDisposeScope();
            gateTable = items.Table;
        }

        return gateRows;
    }
}

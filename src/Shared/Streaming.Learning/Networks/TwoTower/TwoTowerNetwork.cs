using Streaming.Learning.Inputs;
using Streaming.Shared.Data;
using Streaming.Shared.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Learning.Networks.TwoTower;

/// <summary>
/// A two-head, two-tower network for new users: every item is a vector in a shared space, every user a small
/// adapted vector in it. The list head scores what a user will pick next (a softmax over the catalogue); the rating
/// head predicts the rating (MAE). Per-user state: a list vector u (D values), a rating vector v (D) and a rating
/// bias b (1), 2D + 1 values in all (129 at D = 64: 258 bytes as float16).
/// </summary>
/// <remarks>
/// <para>Item tower: each item column is side(MPAA rate, genres, directors, actors) through a linear layer, plus an
/// item-identity embedding for training items (<see cref="FeatureSpace.ItemIds"/>). Items never seen in training
/// (new items) look up the "unknown" identity, so they rank by their side information alone; identities are dropped
/// to "unknown" at random in training so that this path is trained for them. The representation of an item is
/// [q (D), list bias, p (D), rating bias]: the list bias is a learned popularity prior.</para>
/// <para>User tower (FISM-like): the profile embeddings and the mean of the user's history items' q and p feed one
/// hidden layer that proposes the meta-initialisation: u0 = mean(q) + f(x), (v0, b0) = g(x). The inner loop then
/// takes a few steps of <see cref="Methods.SoftmaxRankingLoss"/> on the support set from there.</para>
/// <para>List score s(u, i) = u.q_i + list bias_i (<see cref="MetaNetwork.ScoreCatalogue"/>: what is served);
/// rating r(u, i) = mu + rating bias_i + b_u + v.p_i (<see cref="MetaNetwork.Forward"/>'s prediction).</para>
/// <para>The softmax normaliser needs every catalogue item: <see cref="EncodeUsers"/> is always given the
/// catalogue's item representations (training, evaluation, serving and evidence candidates), and the network keeps
/// them for the following <see cref="Forward"/> calls of the same batch. Not thread-safe (as the seam says).</para>
/// Hyper-parameters: <see cref="Hyperparameters.EmbeddingDim"/> is the size of each feature embedding (E),
/// <see cref="Hyperparameters.Hidden1"/> the item/user space (D), <see cref="Hyperparameters.Hidden2"/> the user
/// tower's hidden width.
/// </remarks>
public sealed class TwoTowerNetwork : MetaNetwork
{
    /// <summary>The name this network is registered under (<see cref="Methods.MethodCatalog"/>).</summary>
    public const string Name = "twotower";

    /// <summary>Probability, in training, of replacing a training item's identity by "unknown" (trains the new-item path).</summary>
    public const double IdentityDropout = 0.2;

    // PyTorch-style names inside the model: they are the parameter names in the model file.
    private readonly FeatureEmbeddings embeddings;
    private readonly Embedding item_id;
    private readonly Linear item_side;
    private readonly Linear user_hidden;
    private readonly Linear user_list;
    private readonly Linear user_rating;
    private readonly Parameter mu;
    private readonly FeatureSpace features;
    private readonly FastWeightSpec spec;

    // The item-identity index of each row of the last catalogue table seen (one lookup per table, not per batch).
    private ItemFeatureTable? indexedTable;
    private long[] identityRows = [];

    // The catalogue representations of the current batch (see remarks), not owned; and which catalogue items each
    // of its users has in their history, [users, items] (true: seen).
    private Tensor? catalogue;
    private Tensor? seen;

    /// <summary>Creates a network with freshly initialised parameters (uses the global torch seed).</summary>
    /// <param name="hyper">Shapes.</param>
    /// <param name="features">The vocabularies: the eight MeLU features and the training items' identities.</param>
    public TwoTowerNetwork(Hyperparameters hyper, FeatureSpace features) : base(Name, hyper)
    {
        hyper.Validate();
        ArgumentNullException.ThrowIfNull(features);
        this.features = features;
        int e = hyper.EmbeddingDim, d = hyper.Hidden1;
        var sizes = features.Vocabularies.Select(v => v.Size).ToArray();
        embeddings = new FeatureEmbeddings(sizes, e);
        item_id = Layers.Embedding(features.ItemIds.Size, ItemDim, 0.05);
        item_side = nn.Linear(4 * e, ItemDim);
        user_hidden = nn.Linear(UserDim, hyper.Hidden2);
        user_list = nn.Linear(hyper.Hidden2, d);
        user_rating = nn.Linear(hyper.Hidden2, d + 1);
        mu = new Parameter(full(1, hyper.RatingMean));
        RegisterComponents();

        var builder = FastWeightSpec.Create();
        Slots = new TwoTowerSlots(
            List: builder.Add("u", [d], FastSlotKind.Embedding, 0)!,
            Rating: builder.Add("v", [d], FastSlotKind.Embedding, 1)!,
            Bias: builder.Add("b", [1], FastSlotKind.Bias, 1)!);
        spec = builder.Build();
    }

    /// <summary>The typed fast slots.</summary>
    public TwoTowerSlots Slots { get; }

    /// <inheritdoc />
    public override NetworkInputs Inputs => NetworkInputs.Profile | NetworkInputs.ItemFeatures | NetworkInputs.ItemIdentity | NetworkInputs.Sequence;

    /// <inheritdoc />
    public override FastWeightSpec FastSpec => spec;

    /// <summary>Columns of an item representation: q (D), list bias, p (D), rating bias.</summary>
    public int ItemDim => (2 * Hyper.Hidden1) + 2;

    /// <summary>Columns of a user representation: profile (4E), mean history q (D), mean history p (D).</summary>
    public int UserDim => (4 * Hyper.EmbeddingDim) + (2 * Hyper.Hidden1);

    private int D => Hyper.Hidden1;

    /// <summary>Item representations [items, 2D + 2]: side features through a linear layer plus the identity embedding.</summary>
    public override Tensor EmbedItems(ItemFeatureTensors items)
    {
        ArgumentNullException.ThrowIfNull(items);
        using var scope = NewDisposeScope();
        var side = embeddings.Items(items);
        var identity = tensor(IdentityRows(items.Table), device: items.Rate.device);
        if (training && IdentityDropout > 0)
        {
            identity = identity.masked_fill(rand(identity.shape, device: identity.device).lt(IdentityDropout), FeatureVocabulary.Unknown);
        }

        return (item_side.call(side) + item_id.call(identity)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// User representations [users, 4E + 2D]: the profile embeddings and the mean q and p of the history items. Keeps
    /// <paramref name="itemEmbeddings"/> (the catalogue) for the softmax normaliser of the following forward passes.
    /// </summary>
    public override Tensor EncodeUsers(UserInputs users, Tensor itemEmbeddings)
    {
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(itemEmbeddings);
        catalogue = itemEmbeddings;
        var rows = users.HistoryRows;
        seen = zeros(rows.shape[0], itemEmbeddings.shape[0], device: rows.device).scatter_add(1, rows, users.HistoryMask).gt(0);
        using var scope = NewDisposeScope();
        var profile = users.Profile;
        var mask = users.HistoryMask.unsqueeze(-1);
        var history = itemEmbeddings.index_select(0, rows.flatten()).reshape(rows.shape[0], rows.shape[1], -1);
        var mean = (history * mask).sum(1) / mask.sum(1).clamp_min(1);
        var result = cat([
            embeddings.Users(profile),
            mean.narrow(1, 0, D),
            mean.narrow(1, D + 1, D),
        ], 1);
        return result.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override FastWeights InitialFastWeights(Tensor users)
    {
        ArgumentNullException.ThrowIfNull(users);
        var hidden = nn.functional.relu(user_hidden.call(users));
        // FISM: the list vector starts at the mean of the history items' q, corrected by the profile and history.
        var u = users.narrow(1, 4 * Hyper.EmbeddingDim, D) + user_list.call(hidden);
        var rating = user_rating.call(hidden);
        return new FastWeights(spec, [u, rating.narrow(1, 0, D), rating.narrow(1, D, 1)]);
    }

    /// <summary>Predicted ratings (the rating head), with the list scores of the same items and the catalogue softmax normaliser.</summary>
    public override NetworkPass Forward(Tensor items, Tensor users, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(fast);
        var s = Slots;
        Tensor u = fast[s.List]!, v = fast[s.Rating]!, b = fast[s.Bias]!;
        Tensor q = items.narrow(-1, 0, D), listBias = items.select(-1, D);
        Tensor p = items.narrow(-1, D + 1, D), ratingBias = items.select(-1, (2 * D) + 1);
        Tensor list, interaction;
        if (items.dim() == 3)
        {
            list = q.matmul(u.unsqueeze(-1)).squeeze(-1) + listBias;
            interaction = p.matmul(v.unsqueeze(-1)).squeeze(-1);
        }
        else
        {
            list = u.matmul(q.t()) + listBias;
            interaction = v.matmul(p.t());
        }

        Tensor rating = mu + ratingBias + b + interaction;
        return new RankingPass(rating, list, UnseenLogSumExp(u, list));
    }

    /// <summary>Serving: the list head's scores of every catalogue item, [users, items] (not the ratings: ranking by rating favours obscure, well-rated films).</summary>
    public override Tensor ScoreCatalogue(PreparedCatalogue catalogue, Tensor users, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(catalogue);
        ArgumentNullException.ThrowIfNull(fast);
        var all = catalogue.Embeddings;
        return fast[Slots.List]!.matmul(all.narrow(1, 0, D).t()) + all.select(1, D);
    }

    // The softmax normaliser of each position: itself plus every catalogue item outside the user's history. Why not the
    // whole catalogue: the list ranks unseen items only, and with the history in the normaliser the outer loss would
    // push the adapted vector away from the very support items the inner loop pulls it to. An unseen (query) position
    // is counted twice, which only bounds its loss below by log 2. Formed when a loss asks (RankingPass), from the
    // batch's catalogue as it is now.
    private Func<Tensor?> UnseenLogSumExp(Tensor u, Tensor list)
    {
        var (all, history) = (catalogue, seen);
        return () =>
        {
            if (all is not { IsInvalid: false } || all.shape[^1] != ItemDim || history is not { IsInvalid: false } || history.shape[0] != u.shape[0])
            {
                return null;
            }

            var unseen = (u.matmul(all.narrow(1, 0, D).t()) + all.select(1, D)).masked_fill(history, float.NegativeInfinity).logsumexp(1);
            return unseen.unsqueeze(1).logaddexp(list);
        };
    }

    private long[] IdentityRows(ItemFeatureTable table)
    {
        if (!ReferenceEquals(table, indexedTable))
        {
            identityRows = table.ItemIds.Select(id => (long)features.ItemIdIndex(id)).ToArray();
            indexedTable = table;
        }

        return identityRows;
    }
}

/// <summary>The two-tower network's fast slots: the list vector u, the rating vector v and the rating bias b.</summary>
public sealed record TwoTowerSlots(FastSlot List, FastSlot Rating, FastSlot Bias);

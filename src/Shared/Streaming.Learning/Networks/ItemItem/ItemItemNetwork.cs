using System.Globalization;
using Streaming.Shared.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Learning.Networks.ItemItem;

/// <summary>
/// An item-item network for new users, in the MeLU family: a closed-form EASE layer B over the training items
/// (shared, frozen), next to a two-tower item space in which every user is a small adapted vector, and a rating head.
/// The list head scores what a user will pick next; the rating head predicts the rating (MAE).
/// Per-user state: the list vector u (D), the EASE gain a (1), the rating vector v (D) and the rating bias b (1):
/// 2D + 2 values (130 at D = 64: 260 bytes as float16).
/// </summary>
/// <remarks>
/// <para>List score s(u, i) = g (1 + a_u) e(u, i) + u.q_i + c_i, with e(u, i) = (x_u B)_i the EASE score of the
/// user's history x_u (binary, whatever the ratings), g a learned global gain, q_i the item's vector (side features
/// plus an identity embedding) and c_i its learned list bias. EASE is the collaborative prior, of EASE strength from
/// the start; the meta-learned, per-user adapted part (u, a) moves the list where this user departs from the
/// item-item average, with what EASE does not read: the profile (through the initialisation), item side features and
/// a learned item identity. Items outside B (new items) have e = 0 and rank by u.q + c alone (the two-tower path,
/// trained for them by dropping identities to "unknown" at random).</para>
/// <para>The served list weighs the EASE term by m (<see cref="ServedEaseWeight"/>): m g (1 + a_u) e(u, i) + u.q_i + c_i.
/// Meta-training sets g and the rest for the catalogue softmax's likelihood, which spreads probability over every
/// liked item and so leans on the smooth parts (u.q, c) more than the top of the list should; m is chosen after
/// meta-training on the validation users' served lists (<see cref="IServedListCalibration"/>). The inner loop and the
/// training losses keep m = 1, so adaptation is what was meta-learned.</para>
/// <para>B is fitted once before meta-training (<see cref="ITrainingDataFit"/>: on every existing-item rating of the
/// training users, long histories weighed down; the history cap, lambda and dropout chosen on the validation users
/// by recall@20 of their liked query items) and stored as a frozen parameter <c>ease_weight</c>: with V training
/// items it is V^2 floats (3,300 items on MovieLens-1M: 44 MB of the model file).</para>
/// <para>Rating r(u, i) = mu + rating bias_i + b_u + v.p_i, as the two-tower network's.</para>
/// <para>The user representation carries e(u, .) over the catalogue given to <see cref="EncodeUsers"/> (one product
/// x B per batch), so that <see cref="ScoreCatalogue"/> stays one product per batch of users: g (1 + a) E + U Q^T + c.
/// The item representation carries its catalogue row and its identity, so that a pass over gathered items finds its
/// EASE scores. Not thread-safe (the network keeps the current batch's catalogue, as the seam allows).</para>
/// Hyper-parameters: <see cref="Hyperparameters.EmbeddingDim"/> is each feature embedding's size (E),
/// <see cref="Hyperparameters.Hidden1"/> the item/user space (D), <see cref="Hyperparameters.Hidden2"/> the user
/// tower's hidden width.
/// </remarks>
public sealed class ItemItemNetwork : MetaNetwork, ITrainingDataFit, IServedListCalibration
{
    /// <summary>The name this network is registered under (<see cref="Methods.MethodCatalog"/>).</summary>
    public const string Name = "itemitem";

    /// <summary>Probability, in training, of replacing a training item's identity embedding by "unknown" (trains the new-item path).</summary>
    public const double IdentityDropout = 0.2;

    /// <summary>
    /// Probability, in training, of hiding a user's EASE scores (e = 0): such a user's list is u.q + c alone, which is
    /// the only list new items get (they have no row in B), so this trains the new-item path next to EASE.
    /// </summary>
    public const double EaseDropout = 0.2;

    /// <summary>A held-out item rated at least this is "liked" when choosing lambda (the top-N protocol's relevance).</summary>
    public const float LikedRating = 4;

    /// <summary>Known items an identity-less item borrows its EASE score from (with a <see cref="Generator"/>).</summary>
    public const int BorrowedNeighbours = 10;

    /// <summary>Softmax temperature over those neighbours' cosine similarities: the most similar dominate.</summary>
    public const float BorrowTemperature = 0.05f;

    /// <summary>The EASE regularisations tried on the validation users.</summary>
    public static readonly IReadOnlyList<double> Lambdas = [50, 100, 200, 500];

    /// <summary>
    /// The history caps tried with each lambda and dropout (<see cref="ClosedFormEase.Gram"/>: a training user with n
    /// items weighs min(1, cap / n)). Measured on MovieLens-1M's held-out users (seed 1), EDLAE at lambda 200, p 0.25:
    /// recall@20 0.3982 from the warm-state tasks' ratings (users with 13..100), 0.3968 from every training user's
    /// ratings unweighted (five times as many, mostly from long histories), 0.4117 with cap 50; the validation users
    /// chose cap 25, lambda 50, p 0.5 from these grids (0.4115).
    /// </summary>
    public static readonly IReadOnlyList<double> HistoryCaps = [25, 50, 100];

    /// <summary>
    /// The EDLAE input-dropout probabilities tried with each lambda (0: EASE). Measured on MovieLens-1M's held-out
    /// users (seed 1): EASE at lambda 200 had recall@20 0.3965, EDLAE at lambda 150, p 0.5 had 0.3997.
    /// </summary>
    public static readonly IReadOnlyList<double> Dropouts = [0, 0.25, 0.5];

    /// <summary>The served EASE weights tried on the validation users' served lists (<see cref="IServedListCalibration"/>).</summary>
    public static readonly IReadOnlyList<double> ServedEaseWeights = [1, 1.5, 2, 3, 4, 6, 8];

    // PyTorch-style names inside the model: they are the parameter names in the model file.
    private readonly FeatureEmbeddings embeddings;
    private readonly Embedding item_id;
    private readonly Linear item_side;
    private readonly Linear user_hidden;
    private readonly Linear user_list;
    private readonly Linear user_rating;
    private readonly Linear rating_user;
    private readonly Linear rating_item;
    private readonly Linear rating_out;
    private readonly Parameter mu;
    private readonly Parameter ease_weight;
    private readonly Parameter ease_lambda;
    private readonly Parameter edlae_dropout;
    private readonly Parameter ease_log_gain;
    private readonly Parameter served_ease_weight;
    private readonly FeatureSpace features;
    private readonly FastWeightSpec spec;

    // The item-identity index of each row of the last catalogue table seen (one lookup per table, not per batch).
    private ItemFeatureTable? indexedTable;
    private long[] identityRows = [];

    // The last items embedded with a generator: their side-information vectors, normalised (see BorrowEase).
    private Tensor? borrowKeys;

    // The catalogue representations of the current batch (not owned), and which of its items each user has seen.
    private Tensor? catalogue;
    private Tensor? seen;

    /// <summary>Creates a network with freshly initialised parameters (uses the global torch seed); B is zero until <see cref="Fit"/>.</summary>
    /// <param name="hyper">Shapes.</param>
    /// <param name="features">The vocabularies: the eight MeLU features and the training items' identities.</param>
    public ItemItemNetwork(Hyperparameters hyper, FeatureSpace features) : base(Name, hyper)
    {
        hyper.Validate();
        ArgumentNullException.ThrowIfNull(features);
        this.features = features;
        int e = hyper.EmbeddingDim, d = hyper.Hidden1;
        var sizes = features.Vocabularies.Select(v => v.Size).ToArray();
        embeddings = new FeatureEmbeddings(sizes, e);
        item_id = Layers.Embedding(features.ItemIds.Size, LearnedItemDim, 0.05);
        item_side = nn.Linear(4 * e, LearnedItemDim);
        user_hidden = nn.Linear(UserDim, hyper.Hidden2);
        user_list = nn.Linear(hyper.Hidden2, d + 1);
        user_rating = nn.Linear(hyper.Hidden2, d + 1);
        rating_user = nn.Linear(4 * e, hyper.Hidden2);
        rating_item = nn.Linear(d, hyper.Hidden2, hasBias: false);
        rating_out = nn.Linear(hyper.Hidden2, 1);
        mu = new Parameter(full(1, hyper.RatingMean));
        int v = features.ItemIds.Size;
        ease_weight = new Parameter(zeros(v, v), requires_grad: false);
        ease_lambda = new Parameter(zeros(1), requires_grad: false);
        edlae_dropout = new Parameter(zeros(1), requires_grad: false);
        ease_log_gain = new Parameter(zeros(1));
        served_ease_weight = new Parameter(ones(1), requires_grad: false);
        RegisterComponents();

        using (no_grad())
        {
            // The adapted part starts small next to EASE: a new user's first list is EASE's.
            user_list.weight!.mul_(0.1);
            user_list.bias!.zero_();
        }

        var builder = FastWeightSpec.Create();
        Slots = new ItemItemSlots(
            List: builder.Add("u", [d], FastSlotKind.Embedding, 0)!,
            Gain: builder.Add("a", [1], FastSlotKind.Bias, 0)!,
            Rating: builder.Add("v", [d], FastSlotKind.Embedding, 1)!,
            Bias: builder.Add("b", [1], FastSlotKind.Bias, 1)!);
        spec = builder.Build();
        HandWrittenGradient = new ItemItemGradient(this);
    }

    /// <summary>The typed fast slots.</summary>
    public ItemItemSlots Slots { get; }

    /// <inheritdoc />
    public override IFastGradient HandWrittenGradient { get; }

    /// <summary>The vocabularies this network was built for.</summary>
    public FeatureSpace Features => features;

    /// <inheritdoc />
    public override NetworkInputs Inputs => NetworkInputs.Profile | NetworkInputs.ItemFeatures | NetworkInputs.ItemIdentity | NetworkInputs.Sequence;

    /// <inheritdoc />
    public override FastWeightSpec FastSpec => spec;

    /// <summary>Columns of an item representation: q (D), list bias, p (D), rating bias, catalogue row, identity index.</summary>
    public int ItemDim => LearnedItemDim + 2;

    /// <summary>Columns of a user representation before the EASE scores: profile (4E), mean history q (D), mean history p (D).</summary>
    public int UserDim => (4 * Hyper.EmbeddingDim) + (2 * Hyper.Hidden1);

    /// <summary>The EASE regularisation chosen by <see cref="Fit"/> (0 before it).</summary>
    public double EaseLambda => ease_lambda.item<float>();

    /// <summary>The EDLAE dropout chosen by <see cref="Fit"/> (0: plain EASE).</summary>
    public double EdlaeDropout => edlae_dropout.item<float>();

    /// <summary>The global gain g of the EASE term.</summary>
    public double EaseGain => ease_log_gain.exp().item<float>();

    /// <inheritdoc />
    public IReadOnlyList<double> ServedWeights => ServedEaseWeights;

    /// <summary>
    /// The served list's weight m of the EASE term (1: the meta-trained list). Measured on MovieLens-1M's held-out users
    /// (seed 1) with the default recipe: recall@20 0.3989 at 1, 0.4096 at 2, 0.4142 at 3, 0.4174 at 4, 0.4143 at 6;
    /// the validation users chose 4 (0.4351).
    /// </summary>
    public double ServedEaseWeight
    {
        get => served_ease_weight.item<float>();
        set
        {
            if (!(value > 0) || double.IsInfinity(value))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "the served EASE weight must be positive and finite");
            }

            using var noGrad = no_grad();
            served_ease_weight.fill_(value);
        }
    }

    double IServedListCalibration.ServedWeight
    {
        get => ServedEaseWeight;
        set => ServedEaseWeight = value;
    }

    /// <inheritdoc />
    public override IReadOnlyCollection<string> ParametersAddedLater => [nameof(served_ease_weight)];

    /// <summary>The EASE layer B, [identities, identities] (row and column 0: the unknown identity, always zero).</summary>
    public Tensor EaseWeights => ease_weight;

    /// <summary>What the last <see cref="Fit"/> tried and chose, in words (null before one, and after loading a file).</summary>
    public string? FitSummary { get; private set; }

    private int D => Hyper.Hidden1;

    /// <summary>Columns of an item's learned part (q, list bias, p, rating bias): what an <see cref="IItemEmbeddingGenerator"/> returns.</summary>
    public int LearnedItemDim => (2 * Hyper.Hidden1) + 2;

    /// <summary>
    /// Maps an item without a learned identity (never seen in training, added while serving, or dropped in training)
    /// to a warm identity embedding from its side information (MML's cold-start generator); null: such items share
    /// the "unknown" identity embedding. Not owned: the module that sets it registers and saves it.
    /// </summary>
    public IItemEmbeddingGenerator? Generator { get; set; }

    /// <summary>
    /// Fits B in closed form on the training users' interactions (<see cref="TrainingDataFit.Interactions"/>: what the
    /// list baselines are fitted on), with the history cap of <see cref="HistoryCaps"/>, the lambda of
    /// <see cref="Lambdas"/> and the dropout of <see cref="Dropouts"/> that rank the validation users' liked query items
    /// best from their support sets; then sets the gain g to the softmax temperature that fits those items best.
    /// </summary>
    public string Fit(TrainingDataFit data)
    {
        ArgumentNullException.ThrowIfNull(data);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int v = features.ItemIds.Size;
        var histories = data.Interactions.GroupBy(r => r.UserId).Select(g => (IReadOnlyCollection<int>)g.Select(r => features.ItemIdIndex(r.ItemId)).ToArray()).ToArray();
        var validation = data.Validation.Where(t => t.Query.Any(r => r.Value >= LikedRating)).ToArray();
        var support = Binary(validation.Select(t => t.Support.Select(r => r.ItemId)), v);
        var liked = Binary(validation.Select(t => t.Query.Where(r => r.Value >= LikedRating).Select(r => r.ItemId)), v);

        double bestRecall = -1, bestLambda = Lambdas[0], bestDropout = 0, bestCap = HistoryCaps[0];
        Tensor? best = null;
        var tried = new List<string>();
        foreach (double cap in HistoryCaps)
        {
            using var gram = ClosedFormEase.Gram(histories, v, cap);
            foreach (double dropout in Dropouts)
            {
                foreach (double lambda in Lambdas)
                {
                    var b = ClosedFormEase.Weights(gram, lambda, dropout);
                    double recall = validation.Length == 0 ? 0 : ClosedFormEase.Recall(b, support, liked, 20);
                    tried.Add(string.Create(CultureInfo.InvariantCulture, $"({cap}, {lambda}, {dropout}): {recall:F4}"));
                    if (recall > bestRecall)
                    {
                        best?.Dispose();
                        (bestRecall, bestLambda, bestDropout, bestCap, best) = (recall, lambda, dropout, cap, b);
                    }
                    else
                    {
                        b.Dispose();   // V^2 floats each: keep only the best
                    }
                }
            }
        }

        ease_weight.copy_(best!.to(ease_weight.device));
        ease_lambda.fill_(bestLambda);
        edlae_dropout.fill_(bestDropout);

        // Training scores the training users with this B, which has seen their query items. Two leak-free variants were
        // measured on MovieLens-1M and neither was kept: B fitted on the support sets only (fixed tasks; recall@20
        // 0.3715 against 0.3807, cut to 2 epochs) and each user scored with the B of the other half of the training
        // users. With the warm-state tasks' ratings alone, adaptation then helped the list (0.3843 against 0.3801
        // unadapted) but the list was worse (0.3963 with this B). With every training user's ratings (history cap 25),
        // the same: recall@20 0.3916 against 0.4002, 0.3954 against 0.4049 unadapted.

        // The softmax temperature of EASE alone: the gain whose softmax over unseen items gives the liked items the
        // most likelihood, so that meta-training starts from a calibrated EASE list rather than a flat one.
        double bestGain = 1, bestNll = double.MaxValue;
        if (validation.Length > 0)
        {
            var scores = support.matmul(best!).masked_fill(support.gt(0), float.NegativeInfinity);
            scores[.., 0] = float.NegativeInfinity;
            for (double gain = 1; gain <= 4096; gain *= 1.5)
            {
                var logp = (gain * scores).log_softmax(1).masked_fill(liked.eq(0), 0);
                double nll = -(logp.sum() / liked.sum()).item<float>();
                if (nll < bestNll)
                {
                    (bestNll, bestGain) = (nll, gain);
                }
            }
        }

        ease_log_gain.fill_(Math.Log(bestGain));
        return FitSummary = string.Create(CultureInfo.InvariantCulture, $"EASE over {v - 1} training items from {histories.Length} training users' {data.Interactions.Count} interactions: validation recall@20 by (history cap, lambda, dropout) {string.Join(", ", tried)}; chose history cap {bestCap}, lambda {bestLambda}, dropout {bestDropout}, gain {bestGain:F1} (NLL {bestNll:F3})");
    }

    /// <summary>Item representations [items, 2D + 4]: side features through a linear layer plus the identity embedding, then the row and identity.</summary>
    public override Tensor EmbedItems(ItemFeatureTensors items)
    {
        ArgumentNullException.ThrowIfNull(items);
        using var scope = NewDisposeScope();
        var device = items.Rate.device;
        var side = embeddings.Items(items);
        var identity = tensor(IdentityRows(items.Table), device: device);
        var embedded = identity;
        if (training && IdentityDropout > 0)
        {
            embedded = identity.masked_fill(rand(identity.shape, device: device).lt(IdentityDropout), FeatureVocabulary.Unknown);
        }

        var fromSide = item_side.call(side);
        var learned = fromSide + item_id.call(embedded);
        if (Generator is { } generator)
        {
            // Items without an identity take the generated embedding in place of the shared "unknown" one. Training
            // drops known identities at random (above), which is how the generator learns to stand in for them.
            var known = embedded.ne(FeatureVocabulary.Unknown).unsqueeze(1);
            // On top of what an identity-less item has without a generator (side features and the shared unknown
            // identity), so that a generator that has learned nothing changes nothing.
            var generated = fromSide + item_id.weight![FeatureVocabulary.Unknown] + generator.Generate(items, side);
            learned = learned.where(known, generated);

            // What each item's side information alone says (known items too): how identity-less items find the known
            // items they borrow EASE scores from (BorrowEase), like with like.
            borrowKeys?.Dispose();
            borrowKeys = nn.functional.normalize(generated.narrow(1, 0, D).detach(), dim: 1).DetachFromDisposeScope();

            // A dropped item is identity-less everywhere, as a new item is when serving: no row of B for the users who
            // have it, and its EASE score borrowed from its neighbours (BorrowEase), which trains the borrowing.
            identity = embedded;
        }

        var row = arange(items.Count, dtype: float32, device: device).unsqueeze(1);
        return cat([learned, row, identity.to(float32).unsqueeze(1)], 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// User representations [users, 4E + 2D + catalogue]: the profile embeddings, the mean q and p of the history
    /// items, and the EASE score of every catalogue item, x_u B. Keeps <paramref name="itemEmbeddings"/> (the catalogue)
    /// for the softmax normaliser of the following forward passes.
    /// </summary>
    public override Tensor EncodeUsers(UserInputs users, Tensor itemEmbeddings)
    {
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(itemEmbeddings);
        catalogue = itemEmbeddings;
        var rows = users.HistoryRows;
        long b = rows.shape[0], n = itemEmbeddings.shape[0];
        seen = zeros(b, n, device: rows.device).scatter_add(1, rows, users.HistoryMask).gt(0);
        using var scope = NewDisposeScope();
        var profile = users.Profile;
        var mask = users.HistoryMask.unsqueeze(-1);
        var history = itemEmbeddings.index_select(0, rows.flatten()).reshape(b, rows.shape[1], -1);
        var mean = (history * mask).sum(1) / mask.sum(1).clamp_min(1);

        // x_u B with x_u the distinct known items of the history, whatever their ratings (EASE's input), as a sparse x
        // dense product: x holds one entry per history position (padding left out), so each user costs its history
        // x items additions, reading only its rows of B; gathering the rows instead copied [users, longest history,
        // items] per batch, three times the work of the users one at a time (measured). An item repeated in the
        // history weighs 1 / its count, so that it counts once; the unknown identity's row is zero.
        var identity = itemEmbeddings.select(1, ItemDim - 1).detach().to(int64);
        var historyIdentity = identity.index_select(0, rows.flatten()).reshape(rows.shape);
        var counts = zeros(b, ease_weight.shape[0], device: rows.device).scatter_add(1, historyIdentity, users.HistoryMask);
        var weight = users.HistoryMask / counts.gather(1, historyIdentity).clamp_min(1);
        var present = users.HistoryMask.flatten().gt(0).nonzero().squeeze(1);
        var owner = arange(b, device: rows.device).unsqueeze(1).expand(b, rows.shape[1]).flatten();
        var x = sparse_coo_tensor(
            stack([owner.index_select(0, present), historyIdentity.flatten().index_select(0, present)]),
            weight.flatten().index_select(0, present),
            [b, ease_weight.shape[0]]);
        var ease = x.mm(ease_weight).index_select(1, identity);
        if (Generator is not null)
        {
            ease = BorrowEase(ease, itemEmbeddings, identity);
        }

        if (training && EaseDropout > 0)
        {
            ease = ease * rand(b, 1, device: rows.device).ge(EaseDropout).to(float32);
        }

        var result = cat([
            embeddings.Users(profile),
            mean.narrow(1, 0, D),
            mean.narrow(1, D + 1, D),
            ease,
        ], 1);
        return result.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override FastWeights InitialFastWeights(Tensor users)
    {
        ArgumentNullException.ThrowIfNull(users);
        var x = users.narrow(1, 0, UserDim);
        var hidden = nn.functional.relu(user_hidden.call(x));
        var list = user_list.call(hidden);
        var rating = user_rating.call(hidden);
        // FISM: the list vector starts at the mean of the history items' q, corrected by the profile and history.
        var u = x.narrow(1, 4 * Hyper.EmbeddingDim, D) + list.narrow(1, 0, D);
        return new FastWeights(spec, [u, list.narrow(1, D, 1), rating.narrow(1, 0, D), rating.narrow(1, D, 1)]);
    }

    /// <summary>Predicted ratings (the rating head), with the list scores of the same items and the catalogue softmax normaliser.</summary>
    public override NetworkPass Forward(Tensor items, Tensor users, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(fast);
        if (!ReferenceEquals(fast.Spec, spec))
        {
            // Plain (non-meta) use, FastWeights.None: every user at the meta-initialisation.
            fast = InitialFastWeights(users);
        }

        var s = Slots;
        Tensor u = fast[s.List]!, a = fast[s.Gain]!, v = fast[s.Rating]!, b = fast[s.Bias]!;
        Tensor q = items.narrow(-1, 0, D), listBias = items.select(-1, D);
        Tensor p = items.narrow(-1, D + 1, D), ratingBias = items.select(-1, (2 * D) + 1);
        var ease = Ease(users);
        var gain = Gain(a);
        // The shared rating network (MeLU's profile x item interaction, one hidden layer) on the profile and p.
        var profileHidden = rating_user.call(users.narrow(1, 0, 4 * Hyper.EmbeddingDim)).unsqueeze(1);
        Tensor list, interaction;
        Tensor? positionEase = null;
        if (items.dim() == 3)
        {
            var rows = items.select(-1, ItemDim - 2).detach().to(int64);
            positionEase = ease.gather(1, rows);
            list = (gain * positionEase) + q.matmul(u.unsqueeze(-1)).squeeze(-1) + listBias;
            interaction = p.matmul(v.unsqueeze(-1)).squeeze(-1);
        }
        else
        {
            list = (gain * ease) + u.matmul(q.t()) + listBias;
            interaction = v.matmul(p.t());
        }

        var shared = rating_out.call(nn.functional.relu(profileHidden + rating_item.call(p))).squeeze(-1);
        Tensor rating = mu + ratingBias + b + interaction + shared;
        var unseen = Unseen(u, gain, ease);
        return items.dim() == 3
            ? new ItemItemPass(rating, list, unseen, q, p, positionEase!, gain)
            : new RankingPass(rating, list, unseen.LogSumExpWith(list));
    }

    /// <summary>Serving: the list head's scores of every catalogue item, [users, items]: one product per batch of users, the EASE term weighed by <see cref="ServedEaseWeight"/>.</summary>
    public override Tensor ScoreCatalogue(PreparedCatalogue catalogue, Tensor users, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(catalogue);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(fast);
        var all = catalogue.Embeddings;
        return (served_ease_weight * Gain(fast[Slots.Gain]!) * Ease(users)) + fast[Slots.List]!.matmul(all.narrow(1, 0, D).t()) + all.select(1, D);
    }

    // Items without an identity have no column in B (their EASE score would be 0, below every known item's): with a
    // generator, each borrows the similarity-weighted EASE scores of the known items whose side information (the
    // generator's view of an item, computed for every item) is most like its own, so that an item added while serving
    // competes with the catalogue in the same list.
    private Tensor BorrowEase(Tensor ease, Tensor itemEmbeddings, Tensor identity)
    {
        var unknown = identity.eq(FeatureVocabulary.Unknown);
        long fresh = unknown.sum().item<long>();
        if (fresh == 0 || fresh == identity.shape[0])
        {
            return ease;
        }

        using var scope = NewDisposeScope();
        var freshRows = unknown.nonzero().squeeze(1);
        var knownRows = unknown.logical_not().nonzero().squeeze(1);
        Tensor weights, neighbours;
        using (no_grad())
        {
            var q = borrowKeys is { IsInvalid: false } keys && keys.shape[0] == itemEmbeddings.shape[0]
                ? keys
                : nn.functional.normalize(itemEmbeddings.narrow(1, 0, D).detach(), dim: 1);
            var similarity = q.index_select(0, freshRows).matmul(q.index_select(0, knownRows).t());
            var top = similarity.topk((int)Math.Min(BorrowedNeighbours, knownRows.shape[0]), dim: 1);
            weights = (top.values / BorrowTemperature).softmax(1);
            neighbours = knownRows.index_select(0, top.indexes.flatten()).reshape(top.indexes.shape);
        }

        // [users, fresh, K] scores of each fresh item's neighbours, weighted into one score per fresh item, scaled by how
        // much the generator has learned to trust them (0 at first: an untrained generator ranks new items as before).
        var borrowed = (ease.index_select(1, neighbours.flatten()).reshape(ease.shape[0], neighbours.shape[0], neighbours.shape[1]) * weights).sum(2);
        return ease.index_copy(1, freshRows, Generator!.BorrowWeight * borrowed).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            borrowKeys?.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>g, the shared EASE gain: a user's gain is g (1 + a_u).</summary>
    internal Tensor GainScale => ease_log_gain.exp();

    // g (1 + a_u), [users, 1].
    private Tensor Gain(Tensor a) => GainScale * (1 + a);

    private Tensor Ease(Tensor users) => users.narrow(1, UserDim, users.shape[1] - UserDim);

    // The catalogue items outside each user's history, for the softmax normaliser of each position (itself plus those
    // items; why: see the two-tower network; the list ranks unseen items only). Scored when a loss asks (RankingPass),
    // from the batch's catalogue as it is now.
    private UnseenCatalogue Unseen(Tensor u, Tensor gain, Tensor ease)
    {
        var (all, history) = (catalogue, seen);
        bool usable = all is { IsInvalid: false } && all.shape[^1] == ItemDim && history is { IsInvalid: false }
            && history.shape[0] == u.shape[0] && ease.shape[1] == all.shape[0];
        var listVectors = usable ? all!.narrow(1, 0, D) : null;
        return new UnseenCatalogue(
            () => usable ? ((gain * ease) + u.matmul(listVectors!.t()) + all!.select(1, D)).masked_fill(history!, float.NegativeInfinity) : null,
            listVectors,
            ease);
    }

    private Tensor Binary(IEnumerable<IEnumerable<int>> users, int size)
    {
        var lists = users.ToArray();
        var x = new float[(long)lists.Length * size];
        for (int u = 0; u < lists.Length; u++)
        {
            foreach (int id in lists[u])
            {
                int index = features.ItemIdIndex(id);
                if (index > 0)
                {
                    x[((long)u * size) + index] = 1;
                }
            }
        }

        return tensor(x, device: ease_weight.device).reshape(lists.Length, size);
    }

    /// <summary>Each row's item-identity index (<see cref="FeatureVocabulary.Unknown"/>: not a training item), computed once per table.</summary>
    public long[] IdentityRows(ItemFeatureTable table)
    {
        if (!ReferenceEquals(table, indexedTable))
        {
            identityRows = table.ItemIds.Select(id => (long)features.ItemIdIndex(id)).ToArray();
            indexedTable = table;
        }

        return identityRows;
    }
}

/// <summary>The item-item network's fast slots: the list vector u, the EASE gain a, the rating vector v and the rating bias b.</summary>
public sealed record ItemItemSlots(FastSlot List, FastSlot Gain, FastSlot Rating, FastSlot Bias);

/// <summary>
/// A cold-start item embedding generator: side information to the item-item network's learned item space, for the
/// items that have no identity embedding (<see cref="ItemItemNetwork.Generator"/>).
/// </summary>
public interface IItemEmbeddingGenerator
{
    /// <summary>[items, <see cref="ItemItemNetwork.LearnedItemDim"/>] for every row of <paramref name="items"/>: added to what an identity-less item has without a generator (its side features and the unknown identity).</summary>
    /// <param name="items">The items.</param>
    /// <param name="sideEmbeddings">Their pooled side-feature embeddings, [items, 4E].</param>
    Tensor Generate(ItemFeatureTensors items, Tensor sideEmbeddings);

    /// <summary>
    /// The share, [1], of its neighbours' EASE scores that an identity-less item takes as its own: learned, since
    /// training drops identities and borrows for those items too. Side-information neighbours are a weak stand-in
    /// for co-occurrence, and a fixed share of 1 swamped the rest of the new items' list.
    /// </summary>
    Tensor BorrowWeight { get; }
}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Shared.Learning;

/// <summary>
/// The MeLU network (Lee et al., KDD 2019): eight feature embeddings (item: MPAA rate, genres, directors,
/// actors; user: gender, age, occupation, zip) feed a three-layer decision network that predicts the rating.
/// No user or item id is embedded, so a user or item never seen in training is still representable.
/// </summary>
/// <remarks>
/// The decision network is written so that many users are adapted at once: every per-user parameter
/// ("fast weight", see <see cref="FastWeights"/>) carries a leading user dimension and the layers use
/// broadcasting matmuls. The first layer is split into its item and user columns so that the input
/// concat(item, user) is never materialised: scoring a catalogue against many users then costs one
/// product per layer, not a copy of the catalogue per user. Not thread-safe: one caller at a time.
/// </remarks>
public sealed class MeluNetwork : nn.Module
{
    // PyTorch-style names inside the model: they are the parameter names in the model file.
    private readonly Embedding rate;
    private readonly Embedding genre;
    private readonly Embedding director;
    private readonly Embedding actor;
    private readonly Embedding gender;
    private readonly Embedding age;
    private readonly Embedding occupation;
    private readonly Embedding zip;
    private readonly Parameter W1;
    private readonly Parameter b1;
    private readonly Parameter W2;
    private readonly Parameter b2;
    private readonly Parameter W3;
    private readonly Parameter b3;
    private readonly Dictionary<string, Parameter> extras = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Parameter> innerRates = new(StringComparer.Ordinal);

    /// <summary>Creates a network with freshly initialised parameters (uses the global torch seed).</summary>
    /// <param name="hyper">Shapes, scope and inner-loop settings.</param>
    /// <param name="vocabularySizes">Sizes of the eight vocabularies in the order rate, genre, director, actor, gender, age, occupation, zip.</param>
    public MeluNetwork(Hyperparameters hyper, IReadOnlyList<int> vocabularySizes) : base("melu")
    {
        ArgumentNullException.ThrowIfNull(hyper);
        hyper.Validate();
        if (vocabularySizes.Count != 8)
        {
            throw new ArgumentException("expected 8 vocabulary sizes (rate, genre, director, actor, gender, age, occupation, zip)", nameof(vocabularySizes));
        }

        Hyper = hyper;
        FixedInnerLearningRate = hyper.InnerLearningRate;
        VocabularySizes = vocabularySizes.ToArray();
        int e = hyper.EmbeddingDim;
        rate = Embed(vocabularySizes[0], e);
        genre = Embed(vocabularySizes[1], e);
        director = Embed(vocabularySizes[2], e);
        actor = Embed(vocabularySizes[3], e);
        gender = Embed(vocabularySizes[4], e);
        age = Embed(vocabularySizes[5], e);
        occupation = Embed(vocabularySizes[6], e);
        zip = Embed(vocabularySizes[7], e);

        W1 = LinearWeight(hyper.Hidden1, hyper.InputDim);
        b1 = new Parameter(zeros(hyper.Hidden1));
        W2 = LinearWeight(hyper.Hidden2, hyper.Hidden1);
        b2 = new Parameter(zeros(hyper.Hidden2));
        W3 = LinearWeight(1, hyper.Hidden2);
        b3 = new Parameter(full(1, hyper.RatingMean));
        RegisterComponents();

        switch (hyper.Scope)
        {
            case FastWeightScope.LowRank:
                // Shared right factors of the per-user deltas U V^T; small so that the deltas start gentle.
                AddExtra("V1", randn(hyper.InputDim, hyper.Rank).mul_(1.0 / Math.Sqrt(hyper.InputDim)));
                AddExtra("V2", randn(hyper.Hidden1, hyper.Rank).mul_(1.0 / Math.Sqrt(hyper.Hidden1)));
                break;
            case FastWeightScope.Context:
                AddExtra("P", randn(hyper.Hidden1, hyper.ContextDim).mul_(1.0 / Math.Sqrt(hyper.ContextDim)));
                break;
        }

        FastNames = FastWeights.NamesFor(hyper.Scope);
        foreach (string name in FastNames)
        {
            Tensor? rates = hyper.Algorithm switch
            {
                MetaAlgorithm.MetaSgd => full(FastShape(name), hyper.InnerLearningRate),
                MetaAlgorithm.Lslr => full(Math.Max(1, hyper.InnerSteps), hyper.InnerLearningRate),
                _ => null,
            };
            if (rates is not null)
            {
                var p = new Parameter(rates);
                innerRates.Add(name, p);
                register_parameter("alpha_" + name, p);
            }
        }
    }

    /// <summary>The hyper-parameters this network was built with.</summary>
    public Hyperparameters Hyper { get; }

    /// <summary>Vocabulary sizes (rate, genre, director, actor, gender, age, occupation, zip).</summary>
    public IReadOnlyList<int> VocabularySizes { get; }

    /// <summary>Names of the fast tensors of this network's scope, in a fixed order.</summary>
    public IReadOnlyList<string> FastNames { get; }

    /// <summary>Number of values a user's fast state holds.</summary>
    public long FastStateSize => FastNames.Sum(n => FastShape(n).Aggregate(1L, (a, b) => a * b));

    /// <summary>The shape of one user's fast tensor <paramref name="name"/> (without the user dimension).</summary>
    public long[] FastShape(string name) => name switch
    {
        "W1" => [Hyper.Hidden1, Hyper.InputDim],
        "b1" => [Hyper.Hidden1],
        "W2" => [Hyper.Hidden2, Hyper.Hidden1],
        "b2" => [Hyper.Hidden2],
        "W3" => [1, Hyper.Hidden2],
        "b3" => [1],
        "U1" => [Hyper.Hidden1, Hyper.Rank],
        "U2" => [Hyper.Hidden2, Hyper.Rank],
        "c" => [Hyper.ContextDim],
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "not a fast tensor"),
    };

    /// <summary>Item embeddings: the mean of each multi-valued feature's value embeddings, concatenated.</summary>
    /// <returns>[items, 4 * EmbeddingDim].</returns>
    public Tensor EmbedItems(ItemFeatureTensors items)
    {
        ArgumentNullException.ThrowIfNull(items);
        using var scope = NewDisposeScope();
        var result = cat([
            rate.call(items.Rate),
            WeightedMean(genre, items.GenreIndex, items.GenreWeight),
            WeightedMean(director, DropTokens(items.DirectorIndex), items.DirectorWeight),
            WeightedMean(actor, DropTokens(items.ActorIndex), items.ActorWeight),
        ], 1);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>User embeddings from profile indices [users, 4] (gender, age, occupation, zip).</summary>
    /// <returns>[users, 4 * EmbeddingDim].</returns>
    public Tensor EmbedUsers(Tensor profile)
    {
        using var scope = NewDisposeScope();
        var result = cat([
            gender.call(profile.select(1, 0)),
            age.call(profile.select(1, 1)),
            occupation.call(profile.select(1, 2)),
            zip.call(DropTokens(profile.select(1, 3))),
        ], 1);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>The starting fast state for <paramref name="users"/> users: the meta-initialisation, broadcast.</summary>
    /// <remarks>Keeps the autograd graph to the shared parameters, so the meta-gradient reaches them.</remarks>
    public FastWeights InitialFastWeights(long users, Device device)
    {
        var values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (string name in FastNames)
        {
            values[name] = name switch
            {
                "U1" or "U2" or "c" => zeros([users, .. FastShape(name)], device: device),
                _ => Shared(name).unsqueeze(0).expand([users, .. FastShape(name)]),
            };
        }

        return new FastWeights(values);
    }

    /// <summary>The inner learning rate applied to fast tensor <paramref name="name"/> at inner step <paramref name="step"/>.</summary>
    public Tensor InnerRate(string name, int step) => Hyper.Algorithm switch
    {
        MetaAlgorithm.MetaSgd => innerRates[name],
        MetaAlgorithm.Lslr => innerRates[name][Math.Min(step, (int)innerRates[name].shape[0] - 1)],
        _ => tensor(FixedInnerLearningRate, device: W1.device),
    };

    /// <summary>
    /// The inner rate of MAML / first-order MAML (initially <see cref="Hyperparameters.InnerLearningRate"/>);
    /// settable so that a plain network can be fine-tuned with a rate chosen on validation users.
    /// </summary>
    public float FixedInnerLearningRate { get; set; }

    /// <summary>The learned inner rates (empty for MAML), for reports and tests.</summary>
    public IReadOnlyDictionary<string, Parameter> InnerRates => innerRates;

    /// <summary>
    /// Runs the decision network. <paramref name="itemEmbeddings"/> is [users, items, 4E] (each user its own
    /// items) or [items, 4E] (one catalogue for all users); <paramref name="userEmbeddings"/> is [users, 4E].
    /// </summary>
    public DecisionPass Decide(Tensor itemEmbeddings, Tensor userEmbeddings, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(fast);
        int half = Hyper.InputDim / 2;
        Tensor w1 = fast.GetOrDefault("W1") ?? W1;
        // Split the first layer into item and user columns: concat(item, user) is never built.
        Tensor w1Item = w1.narrow(-1, 0, half);
        Tensor w1User = w1.narrow(-1, half, half);
        Tensor z1 = itemEmbeddings.matmul(w1Item.transpose(-1, -2))
                    + UserTerm(userEmbeddings, w1User).unsqueeze(1)
                    + Bias(fast, "b1");
        Tensor? xv1 = null;
        if (fast.GetOrDefault("U1") is { } u1)
        {
            Tensor v1 = extras["V1"];
            xv1 = itemEmbeddings.matmul(v1.narrow(0, 0, half)) + userEmbeddings.matmul(v1.narrow(0, half, half)).unsqueeze(1);
            z1 += xv1.matmul(u1.transpose(1, 2));
        }

        if (fast.GetOrDefault("c") is { } c)
        {
            z1 += c.matmul(extras["P"].t()).unsqueeze(1);
        }

        // ReLU, plus its boolean mask for the hand-written backward (a float mask cost a cast and a multiply).
        Tensor a1 = nn.functional.relu(z1);
        Tensor mask1 = z1.gt(0);

        Tensor z2 = a1.matmul((fast.GetOrDefault("W2") ?? W2).transpose(-1, -2)) + Bias(fast, "b2");
        Tensor? a1v2 = null;
        if (fast.GetOrDefault("U2") is { } u2)
        {
            a1v2 = a1.matmul(extras["V2"]);
            z2 += a1v2.matmul(u2.transpose(1, 2));
        }

        Tensor a2 = nn.functional.relu(z2);
        Tensor mask2 = z2.gt(0);
        Tensor prediction = a2.matmul((fast.GetOrDefault("W3") ?? W3).transpose(-1, -2)).squeeze(-1) + Bias(fast, "b3");
        return new DecisionPass(itemEmbeddings, userEmbeddings, mask1, a1, xv1, mask2, a2, a1v2, prediction);
    }

    /// <summary>
    /// The catalogue side of serving, computed once per model and catalogue: item embeddings and their products
    /// with the shared first-layer weights (used whenever those weights do not adapt per user).
    /// </summary>
    public CatalogueProjection ProjectCatalogue(ItemFeatureTensors items)
    {
        ArgumentNullException.ThrowIfNull(items);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        int half = Hyper.InputDim / 2;
        Tensor embeddings = EmbedItems(items);
        Tensor layer1 = embeddings.matmul(W1.narrow(1, 0, half).t());
        Tensor? v1 = extras.TryGetValue("V1", out var p) ? embeddings.matmul(p.narrow(0, 0, half)) : null;
        return new CatalogueProjection(embeddings.MoveToOuterDisposeScope(), layer1.MoveToOuterDisposeScope(), v1?.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Serving only (no autograd): scores every catalogue item for every user, [users, items]. Same values as
    /// <see cref="Decide"/> on the catalogue, computed item-major ([items, users, hidden]) so that each layer
    /// is one large matrix product, with plain ReLUs instead of the masks the hand-written backward needs.
    /// Checked against <see cref="Decide"/> in the tests.
    /// </summary>
    public Tensor ScoreCatalogue(CatalogueProjection catalogue, Tensor users, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(catalogue);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(fast);
        int half = Hyper.InputDim / 2;
        long n = catalogue.Embeddings.shape[0], b = users.shape[0];
        long h1 = Hyper.Hidden1, r = Hyper.Rank;

        Tensor z1;        // [items, users, H1], or [items, 1, H1] while it is shared
        Tensor rowBias;   // [users, H1]: everything in layer 1 that does not depend on the item
        if (fast.GetOrDefault("W1") is { } w1)
        {
            z1 = catalogue.Embeddings.matmul(w1.narrow(2, 0, half).reshape(b * h1, half).t()).view(n, b, h1);
            rowBias = users.unsqueeze(1).matmul(w1.narrow(2, half, half).transpose(1, 2)).squeeze(1);
        }
        else
        {
            z1 = catalogue.Layer1.unsqueeze(1);
            rowBias = users.matmul(W1.narrow(1, half, half).t());
        }

        rowBias = rowBias + (fast.GetOrDefault("b1") ?? b1);
        if (fast.GetOrDefault("U1") is { } u1)
        {
            z1 = z1 + catalogue.V1!.matmul(u1.reshape(b * h1, r).t()).view(n, b, h1);
            rowBias = rowBias + users.matmul(extras["V1"].narrow(0, half, half)).unsqueeze(1).matmul(u1.transpose(1, 2)).squeeze(1);
        }

        if (fast.GetOrDefault("c") is { } c)
        {
            rowBias = rowBias + c.matmul(extras["P"].t());
        }

        Tensor a1 = nn.functional.relu(z1 + rowBias);
        Tensor z2 = fast.GetOrDefault("W2") is { } w2
            ? a1.transpose(0, 1).bmm(w2.transpose(1, 2)).transpose(0, 1)
            : a1.matmul(W2.t());
        if (fast.GetOrDefault("U2") is { } u2)
        {
            z2 = z2 + a1.matmul(extras["V2"]).transpose(0, 1).bmm(u2.transpose(1, 2)).transpose(0, 1);
        }

        Tensor a2 = nn.functional.relu(z2 + (fast.GetOrDefault("b2") ?? b2));
        Tensor scores = fast.GetOrDefault("W3") is { } w3
            ? a2.mul_(w3.squeeze(1)).sum(-1)
            : a2.matmul(W3.t()).squeeze(-1);
        return scores.t() + (fast.GetOrDefault("b3") ?? b3);
    }

    /// <summary>
    /// The gradient of sum_u L_u with respect to each user's fast tensors, written out by hand for the batched
    /// three-layer network (so it runs under no_grad when serving), given dL/dprediction [users, items].
    /// Built from differentiable tensor operations: when the inputs require grad, autograd differentiates
    /// through it, which is exactly second-order MAML. Checked against autograd in the tests.
    /// </summary>
    public Dictionary<string, Tensor> FastGradients(DecisionPass pass, Tensor dPrediction, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(pass);
        ArgumentNullException.ThrowIfNull(fast);
        var grads = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        Tensor dp = dPrediction.unsqueeze(-1);                               // [B, N, 1]
        if (fast.Contains("W3"))
        {
            grads["W3"] = dp.transpose(1, 2).matmul(pass.A2);                // [B, 1, H2]
        }

        if (fast.Contains("b3"))
        {
            grads["b3"] = dPrediction.sum(1, keepdim: true);                 // [B, 1]
        }

        bool needLayer2 = fast.Contains("W2") || fast.Contains("b2") || fast.Contains("U2");
        bool needLayer1 = fast.Contains("W1") || fast.Contains("b1") || fast.Contains("U1") || fast.Contains("c");
        if (!needLayer2 && !needLayer1)
        {
            return grads;
        }

        Tensor dz2 = dp.matmul(fast.GetOrDefault("W3") ?? W3) * pass.Mask2;  // [B, N, H2]
        if (fast.Contains("W2"))
        {
            grads["W2"] = dz2.transpose(1, 2).matmul(pass.A1);               // [B, H2, H1]
        }

        Tensor db2 = dz2.sum(1);
        if (fast.Contains("b2"))
        {
            grads["b2"] = db2;
        }

        if (fast.GetOrDefault("U2") is { } u2)
        {
            grads["U2"] = dz2.transpose(1, 2).matmul(pass.A1V2!);            // [B, H2, r]
        }

        if (!needLayer1)
        {
            return grads;
        }

        Tensor da1 = dz2.matmul(fast.GetOrDefault("W2") ?? W2);              // [B, N, H1]
        if (fast.GetOrDefault("U2") is { } u2b)
        {
            da1 += dz2.matmul(u2b).matmul(extras["V2"].t());
        }

        Tensor dz1 = da1 * pass.Mask1;
        Tensor db1 = dz1.sum(1);                                             // [B, H1]
        if (fast.Contains("W1"))
        {
            Tensor items = pass.ItemEmbeddings.dim() == 2 ? pass.ItemEmbeddings.unsqueeze(0) : pass.ItemEmbeddings;
            Tensor dItem = dz1.transpose(1, 2).matmul(items);                // [B, H1, E4]
            Tensor dUser = db1.unsqueeze(2) * pass.UserEmbeddings.unsqueeze(1);
            grads["W1"] = cat([dItem, dUser], 2);
        }

        if (fast.Contains("b1"))
        {
            grads["b1"] = db1;
        }

        if (fast.Contains("U1"))
        {
            grads["U1"] = dz1.transpose(1, 2).matmul(pass.XV1!);             // [B, H1, r]
        }

        if (fast.Contains("c"))
        {
            grads["c"] = db1.matmul(extras["P"]);                            // [B, C]
        }

        return grads;
    }

    private Parameter Shared(string name) => name switch
    {
        "W1" => W1,
        "b1" => b1,
        "W2" => W2,
        "b2" => b2,
        "W3" => W3,
        "b3" => b3,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no shared tensor"),
    };

    // A per-user hidden bias [B, H] broadcasts over items as [B, 1, H]; the output bias [B, 1] already does.
    private Tensor Bias(FastWeights fast, string name) => fast.GetOrDefault(name) switch
    {
        null => Shared(name),
        var perUser when name == "b3" => perUser,
        var perUser => perUser.unsqueeze(1),
    };

    private static Tensor UserTerm(Tensor userEmbeddings, Tensor w1User) => w1User.dim() == 3
        ? userEmbeddings.unsqueeze(1).matmul(w1User.transpose(1, 2)).squeeze(1)
        : userEmbeddings.matmul(w1User.t());

    // Token dropout (training only): see Hyperparameters.TokenDropout.
    private Tensor DropTokens(Tensor index) => training && Hyper.TokenDropout > 0
        ? index.masked_fill(rand(index.shape, device: index.device).lt(Hyper.TokenDropout), 0)
        : index;

    private static Tensor WeightedMean(Embedding table, Tensor index, Tensor weight) =>
        (table.call(index) * weight.unsqueeze(-1)).sum(1);

    private static Embedding Embed(int size, int dim)
    {
        var e = nn.Embedding(size, dim);
        using (no_grad())
        {
            nn.init.normal_(e.weight!, 0, 0.1);
        }

        return e;
    }

    private static Parameter LinearWeight(int outputs, int inputs)
    {
        // PyTorch's nn.Linear default: U(-1/sqrt(in), 1/sqrt(in)).
        double bound = 1.0 / Math.Sqrt(inputs);
        return new Parameter(rand(outputs, inputs).mul_(2 * bound).sub_(bound));
    }

    private void AddExtra(string name, Tensor value)
    {
        var p = new Parameter(value);
        extras.Add(name, p);
        register_parameter(name, p);
    }
}

/// <summary>A catalogue prepared for serving: item embeddings [items, 4E], their first-layer product [items, H1], and for the low-rank scope their projection on V1 [items, r].</summary>
public sealed record CatalogueProjection(Tensor Embeddings, Tensor Layer1, Tensor? V1) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        Embeddings.Dispose();
        Layer1.Dispose();
        V1?.Dispose();
    }
}

/// <summary>What one pass of the decision network leaves for the hand-written backward.</summary>
public sealed record DecisionPass(
    Tensor ItemEmbeddings,
    Tensor UserEmbeddings,
    Tensor Mask1,
    Tensor A1,
    Tensor? XV1,
    Tensor Mask2,
    Tensor A2,
    Tensor? A1V2,
    Tensor Prediction);

using static TorchSharp.torch;

namespace Streaming.Learning.Networks;

/// <summary>The inputs a network may read; each is optional and declared by the network (<see cref="MetaNetwork.Inputs"/>).</summary>
[Flags]
public enum NetworkInputs
{
    None = 0,

    /// <summary>The user's profile fields (gender, age, occupation, zip).</summary>
    Profile = 1,

    /// <summary>The items' categorical side features (rate, genres, directors, actors).</summary>
    ItemFeatures = 2,

    /// <summary>The items' identity (an item-id embedding; unknown for items never seen in training).</summary>
    ItemIdentity = 4,

    /// <summary>The items' text vectors (plot, title, genres), computed once per catalogue.</summary>
    ItemText = 8,

    /// <summary>The user's interactions in order (event time, ties by arrival).</summary>
    Sequence = 16,
}

/// <summary>What one forward pass leaves behind; networks with a hand-written backward extend it with their activations.</summary>
public class NetworkPass(Tensor prediction)
{
    /// <summary>Predicted scores (ratings): [users, items].</summary>
    public Tensor Prediction { get; } = prediction;
}

/// <summary>
/// A hand-written batched gradient of sum_u L_u with respect to each user's fast tensors, given dL/dprediction.
/// Built from differentiable tensor operations, so that under no_grad it serves cheaply and in training autograd
/// differentiates through it (second-order MAML). Checked against autograd in the tests.
/// </summary>
public interface IFastGradient
{
    /// <param name="pass">The forward pass at <paramref name="fast"/> (from the same network's <see cref="MetaNetwork.Forward"/>).</param>
    /// <param name="gradient">dL/d of the pass's outputs (<see cref="Methods.InnerLoss.Gradient"/>).</param>
    /// <param name="fast">The fast weights of the pass.</param>
    /// <exception cref="ArgumentException">The gradient reaches an output this backward does not propagate (list scores, say).</exception>
    FastWeights Backward(NetworkPass pass, PassGradient gradient, FastWeights fast);
}

/// <summary>
/// d(loss)/d of each output of a forward pass, [users, positions] each: the predicted ratings, and for a
/// <see cref="RankingPass"/> the list scores and their catalogue softmax normalisers (null where the loss does not read them).
/// </summary>
public sealed record PassGradient(Tensor Prediction, Tensor? RankScores = null, Tensor? CatalogueLogSumExp = null)
{
    /// <summary>Whether the loss reads the list head too.</summary>
    public bool ReachesTheList => RankScores is not null || CatalogueLogSumExp is not null;
}

/// <summary>The catalogue side of serving, computed once per model and catalogue.</summary>
public class PreparedCatalogue(Tensor embeddings) : IDisposable
{
    /// <summary>Item representations, [items, item dim].</summary>
    public Tensor Embeddings { get; } = embeddings;

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            Embeddings.Dispose();
        }
    }
}

/// <summary>
/// The network seam (RecBole's recommender contract, for meta-learning). A network embeds users and items from the
/// inputs it declares, predicts from its shared weights and a batch of users' fast weights, scores a catalogue for
/// many users at once, and declares its fast weights as typed slots. Everything that adapts (the method: inner
/// rates, inner loss) lives outside it (<see cref="MetaModule"/>).
/// </summary>
/// <remarks>
/// Every per-user tensor carries a leading user dimension, so one call adapts or scores many users. Networks that
/// write their inner gradient by hand expose it as <see cref="HandWrittenGradient"/>; the others are differentiated
/// by autograd (<c>create_graph</c> in training). Not thread-safe: one caller at a time.
/// </remarks>
public abstract class MetaNetwork : nn.Module
{
    protected MetaNetwork(string name, Hyperparameters hyper) : base(name)
    {
        ArgumentNullException.ThrowIfNull(hyper);
        Hyper = hyper;
    }

    /// <summary>The hyper-parameters this network was built with.</summary>
    public Hyperparameters Hyper { get; }

    /// <summary>The inputs this network reads.</summary>
    public abstract NetworkInputs Inputs { get; }

    /// <summary>Its per-user tensors.</summary>
    public abstract FastWeightSpec FastSpec { get; }

    /// <summary>A hand-written inner gradient, or null to use autograd.</summary>
    public virtual IFastGradient? HandWrittenGradient => null;

    /// <summary>Every catalogue row's representation: [items, item dim].</summary>
    public abstract Tensor EmbedItems(ItemFeatureTensors items);

    /// <summary>A batch of users' representations, [users, user dim], from their inputs (and the catalogue's item representations, for sequences).</summary>
    public abstract Tensor EncodeUsers(UserInputs users, Tensor itemEmbeddings);

    /// <summary>The starting fast state for a batch of users (the meta-initialisation, possibly personalised from <paramref name="users"/>).</summary>
    /// <remarks>Keeps the autograd graph to the shared parameters, so the meta-gradient reaches them.</remarks>
    public abstract FastWeights InitialFastWeights(Tensor users);

    /// <summary>
    /// Predicts: <paramref name="items"/> is [users, items, item dim] (each user its own items) or [items, item dim]
    /// (the same items for all users); <paramref name="users"/> is [users, user dim].
    /// </summary>
    public abstract NetworkPass Forward(Tensor items, Tensor users, FastWeights fast);

    /// <summary>The catalogue side of serving (no autograd). The default keeps the item representations.</summary>
    public virtual PreparedCatalogue PrepareCatalogue(ItemFeatureTensors items)
    {
        using var noGrad = no_grad();
        return new PreparedCatalogue(EmbedItems(items));
    }

    /// <summary>Serving (no autograd): every catalogue item's score for every user, [users, items].</summary>
    public virtual Tensor ScoreCatalogue(PreparedCatalogue catalogue, Tensor users, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(catalogue);
        return Forward(catalogue.Embeddings, users, fast).Prediction;
    }

    /// <summary>Activations one user costs per catalogue item when scoring, for sizing user chunks.</summary>
    public virtual long ScoringWidth => 1;

    /// <summary>
    /// Frozen parameters (names as this network registers them) added after model files were written without them.
    /// A file that lacks one loads with the parameter's initial value, which must leave the network behaving as it
    /// did before the parameter existed; every other parameter must be in the file.
    /// </summary>
    public virtual IReadOnlyCollection<string> ParametersAddedLater => [];
}

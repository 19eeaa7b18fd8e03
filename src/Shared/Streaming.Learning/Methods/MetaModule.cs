using Streaming.Shared.Data;
using static TorchSharp.torch;

namespace Streaming.Learning.Methods;

/// <summary>
/// Every meta-learned parameter of a model, as one module: the network's shared weights, and the method's own
/// (learned inner rates, a learned loss). The outer loop steps all of them; the model file stores all of them
/// (names prefixed <c>network.</c>, <c>rates.</c>, <c>loss.</c>).
/// </summary>
public sealed class MetaModule : nn.Module
{
    /// <summary>Builds the network and method that <paramref name="hyper"/> names, freshly initialised (global torch seed).</summary>
    public MetaModule(Hyperparameters hyper, FeatureSpace features)
        : this(MethodCatalog.Method(hyper?.Method ?? throw new ArgumentNullException(nameof(hyper))), hyper, features)
    {
    }

    /// <summary>Wraps an existing network with <paramref name="method"/> (the method's rates and loss are created fresh).</summary>
    public MetaModule(MetaNetwork network, MetaMethod method) : base("meta")
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(method);
        Method = method;
        Hyper = network.Hyper with { Method = method.Name };
        Network = method.CreateNetwork(network, Hyper);
        Rates = method.CreateRates(Network.FastSpec, Hyper);
        Loss = method.CreateLoss(Hyper);
        OuterLoss = method.CreateOuterLoss(Hyper);
        register_module("network", Network);
        register_module("rates", Rates);
        register_module("loss", Loss);
        register_module("outer_loss", OuterLoss);
    }

    private MetaModule(MetaMethod method, Hyperparameters hyper, FeatureSpace features)
        : this(MethodCatalog.CreateNetwork(method.Configure(hyper), features), method)
    {
    }

    /// <summary>The hyper-parameters, as the method configured them (what the model file records).</summary>
    public Hyperparameters Hyper { get; }

    public MetaMethod Method { get; }

    public MetaNetwork Network { get; }

    public InnerRatePolicy Rates { get; }

    /// <summary>The inner loss (the local update minimises it).</summary>
    public InnerLoss Loss { get; }

    /// <summary>The outer loss (the meta-update minimises it on the query sets).</summary>
    public InnerLoss OuterLoss { get; }

    /// <summary>Values of one user's fast state.</summary>
    public long FastStateSize => Network.FastSpec.StateSize;

    /// <summary>The device the parameters live on.</summary>
    public Device Device => parameters().First().device;

    /// <summary>
    /// Adapts a batch of users on their support sets: <paramref name="steps"/> inner steps of
    /// <see cref="InnerLoop.Adapt"/> with this model's loss and rates.
    /// </summary>
    public FastWeights Adapt(Tensor supportItems, Tensor users, SupportTargets support, int steps, bool secondOrder, Action<int, FastWeights>? afterStep = null) =>
        InnerLoop.Adapt(this, supportItems, users, support, steps, secondOrder, afterStep);
}

using Streaming.Learning.Networks.Mamo;
using static TorchSharp.torch;

namespace Streaming.Learning.Methods.Mamo;

/// <summary>
/// MAMO (Dong et al., KDD 2020), memory-augmented meta-optimisation: the network is wrapped with MAMO's feature- and
/// task-specific memories (<see cref="MamoNetwork"/>), which personalise every user's starting point and interaction
/// layer; after each meta-update the batch's adapted users are written into the memories. The inner rates are
/// MetaSGD's (one learned rate per fast parameter), so that against <c>metasgd</c> the memories are the only difference.
/// </summary>
public sealed class MamoMethod : MetaMethod
{
    /// <inheritdoc />
    public override string Name => "mamo";

    /// <inheritdoc />
    public override string Description => "MAMO: feature- and task-specific memories personalise the start and the interaction layer, MetaSGD rates";

    /// <inheritdoc />
    public override InnerRatePolicy CreateRates(FastWeightSpec spec, Hyperparameters hyper)
    {
        ArgumentNullException.ThrowIfNull(hyper);
        return new PerParameterRates(spec, hyper.InnerLearningRate);
    }

    /// <inheritdoc />
    public override MetaNetwork CreateNetwork(MetaNetwork network, Hyperparameters hyper) =>
        network as MamoNetwork ?? new MamoNetwork(network);

    /// <inheritdoc />
    public override void AfterTrainingStep(MetaModule module, Tensor users, FastWeights adapted)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (module.Network is MamoNetwork mamo)
        {
            mamo.WriteMemories(users, adapted);
        }
    }
}

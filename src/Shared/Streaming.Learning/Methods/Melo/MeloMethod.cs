namespace Streaming.Learning.Methods.Melo;

/// <summary>
/// MELO (Kim et al.): MAML++ with LSLR rates and the multi-step loss, whose inner loop minimises a meta-learned,
/// per-sample weighted loss (<see cref="MeloLoss"/>) while the outer loop stays plain MSE on the query ratings. Second
/// order by default: the weighting network learns only through the inner-loop gradients. Its base networks are meant
/// to be the sequential ones (<c>--encoder gru4rec|sasrec</c>), but it runs on any network.
/// </summary>
public sealed class MeloMethod : MetaMethod
{
    /// <inheritdoc />
    public override string Name => "melo";

    /// <inheritdoc />
    public override string Description => "MELO: a meta-learned per-sample weighted inner loss, MAML++ LSLR rates, multi-step loss, plain MSE outer loss";

    /// <inheritdoc />
    public override bool MultiStepLoss => true;

    /// <inheritdoc />
    public override InnerRatePolicy CreateRates(FastWeightSpec spec, Hyperparameters hyper)
    {
        ArgumentNullException.ThrowIfNull(hyper);
        return new PerLayerPerStepRates(spec, hyper.InnerSteps, hyper.InnerLearningRate);
    }

    /// <inheritdoc />
    public override InnerLoss CreateLoss(Hyperparameters hyper) => new MeloLoss();
}

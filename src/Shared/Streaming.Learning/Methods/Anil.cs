namespace Streaming.Learning.Methods;

/// <summary>
/// ANIL ("almost no inner loop", Raghu et al., ICLR 2020): MAML that adapts only the output layer per user, with a
/// fixed inner rate; everything below is meta-learned and shared. A user's state is the head alone (65 values on
/// the MeLU network), so it is the cheapest method to cache and to adapt.
/// </summary>
public sealed class Anil : MetaMethod
{
    public override string Name => "anil";

    public override string Description => "ANIL: MAML on the output layer only (scope last), fixed inner rate";

    public override Hyperparameters Configure(Hyperparameters hyper) =>
        (hyper ?? throw new ArgumentNullException(nameof(hyper))) with { Scope = FastWeightScope.Last };

    public override InnerRatePolicy CreateRates(FastWeightSpec spec, Hyperparameters hyper) => new FixedRate(hyper.InnerLearningRate);
}

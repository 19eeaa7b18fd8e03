using static TorchSharp.torch;

namespace Streaming.Learning.Methods;

/// <summary>
/// A meta-learning method: everything about how a network is adapted per user and meta-trained, apart from the
/// network itself. Registered by name in <see cref="MethodCatalog"/>; the model file records the name
/// (<see cref="Hyperparameters.Method"/>), so loading rebuilds the same method.
/// </summary>
public abstract class MetaMethod
{
    /// <summary>The registered name, as <c>--algo</c> spells it.</summary>
    public abstract string Name { get; }

    /// <summary>One line for help texts and reports.</summary>
    public abstract string Description { get; }

    /// <summary>The network the method trains when none is named (null: the MeLU family's default).</summary>
    public virtual string? DefaultNetwork => null;

    /// <summary>Whether the meta-gradient flows through the inner-loop gradients (second-order) unless training asks for first order.</summary>
    public virtual bool SecondOrder => true;

    /// <summary>MAML++'s multi-step loss: the query loss after every inner step, weighted and annealed to the last.</summary>
    public virtual bool MultiStepLoss => false;

    /// <summary>The method's own view of the hyper-parameters (a variant may fix the scope, say); the model records the result.</summary>
    public virtual Hyperparameters Configure(Hyperparameters hyper) => hyper;

    /// <summary>The inner-rate policy for a network's fast weights.</summary>
    public abstract InnerRatePolicy CreateRates(FastWeightSpec spec, Hyperparameters hyper);

    /// <summary>The inner loss (the local update's). MSE unless the method says otherwise.</summary>
    public virtual InnerLoss CreateLoss(Hyperparameters hyper) => new MseLoss();

    /// <summary>
    /// The outer (query) loss the meta-update minimises. MSE, the protocol's error, unless the method says otherwise;
    /// kept apart from <see cref="CreateLoss"/> so that a method can reshape the inner loss (MELO's weighted loss)
    /// and still be meta-trained on the plain error.
    /// </summary>
    public virtual InnerLoss CreateOuterLoss(Hyperparameters hyper) => new MseLoss();

    /// <summary>The network the method trains, given the registered one (MAMO wraps it with its memories); the registered one by default.</summary>
    public virtual MetaNetwork CreateNetwork(MetaNetwork network, Hyperparameters hyper) => network;

    /// <summary>
    /// Called by the outer loop after each meta-update with the batch's user representations and adapted fast weights
    /// (both detached). Training only: evaluation and serving never call it, so state it writes (MAMO's memories) is
    /// read but never written there.
    /// </summary>
    public virtual void AfterTrainingStep(MetaModule module, Tensor users, FastWeights adapted)
    {
    }
}

/// <summary>MAML, second order: the meta-gradient flows through the inner-loop gradients; one fixed inner rate.</summary>
public sealed class Maml : MetaMethod
{
    public override string Name => "maml";

    public override string Description => "MAML, second order, fixed inner rate";

    public override InnerRatePolicy CreateRates(FastWeightSpec spec, Hyperparameters hyper) => new FixedRate(hyper.InnerLearningRate);
}

/// <summary>First-order MAML: the inner-loop gradients are treated as constants.</summary>
public sealed class FoMaml : MetaMethod
{
    public override string Name => "fomaml";

    public override string Description => "first-order MAML, fixed inner rate";

    public override bool SecondOrder => false;

    public override InnerRatePolicy CreateRates(FastWeightSpec spec, Hyperparameters hyper) => new FixedRate(hyper.InnerLearningRate);
}

/// <summary>MetaSGD (Li et al., 2017): one learned inner rate per fast parameter.</summary>
public sealed class MetaSgd : MetaMethod
{
    public override string Name => "metasgd";

    public override string Description => "MetaSGD, a learned inner rate per fast parameter";

    public override InnerRatePolicy CreateRates(FastWeightSpec spec, Hyperparameters hyper) => new PerParameterRates(spec, hyper.InnerLearningRate);
}

/// <summary>MAML++ LSLR (Antoniou et al., 2019): a learned rate per fast tensor and inner step, with the multi-step loss.</summary>
public sealed class Lslr : MetaMethod
{
    public override string Name => "lslr";

    public override string Description => "MAML++ LSLR, a learned rate per layer and step, multi-step loss";

    public override bool MultiStepLoss => true;

    public override InnerRatePolicy CreateRates(FastWeightSpec spec, Hyperparameters hyper) =>
        new PerLayerPerStepRates(spec, hyper.InnerSteps, hyper.InnerLearningRate);
}

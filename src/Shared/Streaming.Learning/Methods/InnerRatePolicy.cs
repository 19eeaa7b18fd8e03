using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Learning.Methods;

/// <summary>
/// How large an inner step is, per fast slot and step (learn2learn's algorithms differ here and nowhere else):
/// fast' = fast - rate(slot, step) * grad. A module, so that learned rates are meta-trained and saved.
/// </summary>
public abstract class InnerRatePolicy(string name) : nn.Module(name)
{
    /// <summary>The rate for <paramref name="slot"/> at inner step <paramref name="step"/>: a scalar or a tensor of the slot's shape.</summary>
    public abstract Tensor Rate(FastSlot slot, int step, Device device);

    /// <summary>The learned rates by name, for reports and tests (empty for a fixed rate).</summary>
    public virtual IReadOnlyDictionary<string, Tensor> Learned => new Dictionary<string, Tensor>();
}

/// <summary>MAML: one fixed rate for every parameter and step (settable, so a plain network can be fine-tuned with a rate chosen on validation users).</summary>
public sealed class FixedRate(float rate) : InnerRatePolicy("fixed_rate")
{
    public float Value { get; set; } = rate;

    /// <inheritdoc />
    public override Tensor Rate(FastSlot slot, int step, Device device) => tensor(Value, device: device);
}

/// <summary>MetaSGD (Li et al., 2017): one learned rate per fast parameter, initialised to the inner learning rate.</summary>
public sealed class PerParameterRates : InnerRatePolicy
{
    private readonly Parameter[] rates;

    public PerParameterRates(FastWeightSpec spec, float initial) : base("per_parameter_rates")
    {
        ArgumentNullException.ThrowIfNull(spec);
        rates = spec.Slots.Select(slot => new Parameter(full(slot.Shape, initial))).ToArray();
        foreach (var slot in spec.Slots)
        {
            register_parameter("alpha_" + slot.Name, rates[slot.Index]);
        }
    }

    /// <inheritdoc />
    public override Tensor Rate(FastSlot slot, int step, Device device) => rates[slot.Index];

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, Tensor> Learned => named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
}

/// <summary>MAML++ LSLR (Antoniou et al., 2019): one learned rate per fast tensor and inner step.</summary>
public sealed class PerLayerPerStepRates : InnerRatePolicy
{
    private readonly Parameter[] rates;

    public PerLayerPerStepRates(FastWeightSpec spec, int steps, float initial) : base("per_layer_per_step_rates")
    {
        ArgumentNullException.ThrowIfNull(spec);
        rates = spec.Slots.Select(_ => new Parameter(full(Math.Max(1, steps), initial))).ToArray();
        foreach (var slot in spec.Slots)
        {
            register_parameter("alpha_" + slot.Name, rates[slot.Index]);
        }
    }

    /// <inheritdoc />
    public override Tensor Rate(FastSlot slot, int step, Device device)
    {
        ArgumentNullException.ThrowIfNull(slot);
        var r = rates[slot.Index];
        return r[Math.Min(step, (int)r.shape[0] - 1)];
    }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, Tensor> Learned => named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
}

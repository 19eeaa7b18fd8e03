using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Learning.Methods.Melo;

/// <summary>
/// MELO's adaptive weighted inner loss (Kim et al.; METAL-style task-adaptive loss): a small meta-learned network gives
/// each support sample a weight in (0, 2) from its squared error, its label and the task's statistics, and the inner loop
/// minimises the weighted mean squared error. Ratings are skewed (many 4s, few 1s), so plain MSE fits the majority; the
/// weights let the meta-learner decide how much a rare low rating should move a user's fast weights.
/// </summary>
/// <remarks>
/// The weights are a function of the detached errors, so that d(loss)/d(prediction) is w * 2 (p - y) / n in closed form
/// (<see cref="PredictionGradient"/>) and a hand-written backward still applies; the meta-gradient reaches the weighting
/// network through the inner-loop gradients (second order). The last layer starts at zero, so every weight starts at 1
/// and the method starts as plain MSE.
/// </remarks>
public sealed class MeloLoss : InnerLoss
{
    /// <summary>Inputs of the weighting network per sample.</summary>
    public const int FeatureCount = 7;

    private const int Hidden = 16;

    // PyTorch-style names: they are the parameter names in the model file (loss.weight_in.*, loss.weight_out.*).
    private readonly Linear weight_in;
    private readonly Linear weight_out;

    /// <summary>A fresh weighting network (uses the global torch seed).</summary>
    public MeloLoss() : base("melo_loss")
    {
        weight_in = nn.Linear(FeatureCount, Hidden);
        weight_out = nn.Linear(Hidden, 1);
        using (no_grad())
        {
            weight_out.weight!.zero_();
            weight_out.bias!.zero_();
        }

        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor PerUser(Tensor prediction, SupportTargets targets)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        ArgumentNullException.ThrowIfNull(targets);
        Tensor squared = (prediction - targets.Ratings).square() * targets.Mask;
        return (SampleWeights(prediction, targets) * squared).sum(1) / targets.Mask.sum(1).clamp_min(1);
    }

    /// <inheritdoc />
    public override Tensor PredictionGradient(Tensor prediction, SupportTargets targets)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        ArgumentNullException.ThrowIfNull(targets);
        // The weights depend on the errors only through detached values, so they are constants to d/dprediction.
        Tensor scale = SampleWeights(prediction, targets) * targets.Mask * (2.0f / targets.Mask.sum(1, keepdim: true).clamp_min(1));
        return (prediction - targets.Ratings) * scale;
    }

    /// <summary>
    /// Each support sample's weight, [users, positions] (0 at padding): 2 sigmoid(f(features)), with features the
    /// sample's log squared error, its label, its label against the user's mean, the share of the user's samples with
    /// the same label (rarity within the task), the user's mean log error, rating spread and support size.
    /// </summary>
    public Tensor SampleWeights(Tensor prediction, SupportTargets targets)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        ArgumentNullException.ThrowIfNull(targets);
        Tensor mask = targets.Mask, y = targets.Ratings;
        Tensor n = mask.sum(1, keepdim: true).clamp_min(1);
        Tensor error = ((prediction.detach() - y).square() * mask).log1p();
        Tensor meanRating = (y * mask).sum(1, keepdim: true) / n;
        Tensor spread = (((y - meanRating).square() * mask).sum(1, keepdim: true) / n).sqrt();
        Tensor meanError = (error * mask).sum(1, keepdim: true) / n;
        Tensor same = (y.unsqueeze(2) - y.unsqueeze(1)).abs().lt(0.5).to_type(y.dtype).mul(mask.unsqueeze(1)).sum(2) / n;
        Tensor size = n.log() / Math.Log(100);
        long positions = y.shape[1];
        Tensor features = stack([
            error,
            (y - 3) / 2,
            (y - meanRating) / 2,
            same,
            meanError.expand(-1, positions),
            spread.expand(-1, positions),
            size.expand(-1, positions),
        ], 2);
        Tensor logits = weight_out.call(nn.functional.relu(weight_in.call(features))).squeeze(-1);
        return 2 * sigmoid(logits) * mask;
    }
}

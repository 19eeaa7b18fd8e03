using static TorchSharp.torch;

namespace Streaming.Learning.Methods;

/// <summary>
/// The loss the inner loop minimises on a user's support set (and the outer loop on the query set). A module, so
/// that a loss with meta-learned parts (MELO's sample weights) is trained and saved with the model.
/// </summary>
public abstract class InnerLoss(string name) : nn.Module(name)
{
    /// <summary>Each user's loss, [users], from predictions [users, positions] and the targets.</summary>
    public abstract Tensor PerUser(Tensor prediction, SupportTargets targets);

    /// <summary>
    /// Each user's loss, [users], from a whole forward pass: what the inner and outer loops call. The default reads
    /// only the predicted ratings; a ranking loss overrides it to read the scores a <see cref="Networks.RankingPass"/> adds.
    /// </summary>
    public virtual Tensor PerUser(Networks.NetworkPass pass, SupportTargets targets)
    {
        ArgumentNullException.ThrowIfNull(pass);
        return PerUser(pass.Prediction, targets);
    }

    /// <summary>
    /// d(sum over users of <see cref="PerUser(Tensor, SupportTargets)"/>)/dprediction in closed form, [users, positions], for networks with a
    /// hand-written backward; null when only autograd can tell (then the inner loop differentiates the loss itself).
    /// </summary>
    public virtual Tensor? PredictionGradient(Tensor prediction, SupportTargets targets) => null;

    /// <summary>
    /// d(sum over users of <see cref="PerUser(Networks.NetworkPass, SupportTargets)"/>)/d of each output of
    /// <paramref name="pass"/> in closed form, for networks with a hand-written backward; null when only autograd can
    /// tell. The default covers losses of the predicted ratings alone (<see cref="PredictionGradient"/>).
    /// </summary>
    public virtual Networks.PassGradient? Gradient(Networks.NetworkPass pass, SupportTargets targets)
    {
        ArgumentNullException.ThrowIfNull(pass);
        return PredictionGradient(pass.Prediction, targets) is { } dPrediction ? new Networks.PassGradient(dPrediction) : null;
    }
}

/// <summary>Mean squared error over each user's unmasked positions (MeLU).</summary>
public sealed class MseLoss() : InnerLoss("mse")
{
    /// <inheritdoc />
    public override Tensor PerUser(Tensor prediction, SupportTargets targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        return Of(prediction, targets);
    }

    /// <summary>Each user's mean squared error over the unmasked positions, [users]: the MSE term of every loss here.</summary>
    public static Tensor Of(Tensor prediction, SupportTargets targets)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        ArgumentNullException.ThrowIfNull(targets);
        return ((prediction - targets.Ratings).square() * targets.Mask).sum(1) / targets.Mask.sum(1).clamp_min(1);
    }

    /// <inheritdoc />
    public override Tensor PredictionGradient(Tensor prediction, SupportTargets targets) => Derivative(prediction, targets);

    /// <summary>d(mean over each user's positions of (p - y)^2)/dp, zero at padding: the MSE term of every loss here.</summary>
    public static Tensor Derivative(Tensor prediction, SupportTargets targets)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        ArgumentNullException.ThrowIfNull(targets);
        return (prediction - targets.Ratings) * (targets.Mask * (2.0f / targets.Mask.sum(1, keepdim: true).clamp_min(1)));
    }
}

using Streaming.Learning.Networks;
using static TorchSharp.torch;

namespace Streaming.Learning.Methods;

/// <summary>
/// The two-head loss: mean squared error of the rating head plus <see cref="RankingWeight"/> times the full-softmax
/// ranking loss of the list head, -mean over the user's rated items of log softmax_catalogue(list score). Why a
/// full softmax: the catalogue is a few thousand items, so every item is a negative at the cost of one product per
/// user, and the loss is the one whose optimum ranks what a user will pick (not what they would rate highly) first.
/// Every rated item is a positive whatever its rating: picking a film is the signal the list must predict.
/// </summary>
/// <remarks>
/// The inner loop minimises it on the support set (adapting the list head's user vector as well as the rating
/// head's), the outer loop on the query set. For passes without list scores (<see cref="RankingPass"/> with a
/// catalogue normaliser) it is plain MSE. No closed-form derivative: networks using it are differentiated by autograd.
/// </remarks>
/// <param name="rankingWeight">Weight of the ranking term next to the rating MSE.</param>
public sealed class SoftmaxRankingLoss(float rankingWeight) : InnerLoss("softmax_ranking")
{
    /// <summary>Weight of the ranking term next to the rating MSE.</summary>
    public float RankingWeight { get; } = rankingWeight;

    /// <inheritdoc />
    public override Tensor PerUser(Tensor prediction, SupportTargets targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        return MseLoss.Of(prediction, targets);
    }

    /// <inheritdoc />
    public override Tensor PerUser(NetworkPass pass, SupportTargets targets)
    {
        ArgumentNullException.ThrowIfNull(pass);
        var mse = PerUser(pass.Prediction, targets);
        return Ranking(pass, targets) is { } ranking ? mse + (RankingWeight * ranking) : mse;
    }

    /// <summary>Each user's ranking term alone, [users] (null when the pass has no catalogue normaliser): for reports and tests.</summary>
    public static Tensor? Ranking(NetworkPass pass, SupportTargets targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (pass is not RankingPass { CatalogueLogSumExp: { } logSumExp } ranked)
        {
            return null;
        }

        // -log softmax of each position = its normaliser - its score; padding positions weigh 0.
        var negativeLogLikelihood = (logSumExp - ranked.RankScores) * targets.Mask;
        return negativeLogLikelihood.sum(1) / targets.Mask.sum(1).clamp_min(1);
    }
}

/// <summary>
/// MetaSGD (Li et al., 2017) with the two-head loss (<see cref="SoftmaxRankingLoss"/>): a learned inner rate per fast
/// parameter; the inner and outer loops fit the rating head and rank the catalogue with the list head.
/// </summary>
public sealed class MetaSgdRanking : MetaMethod
{
    /// <summary>The registered name.</summary>
    public const string RegisteredName = "metasgd-rank";

    /// <summary>Weight of the ranking term next to the rating MSE (the ranking term starts near log(catalogue) ~ 8).</summary>
    public const float DefaultRankingWeight = 1f;

    public override string Name => RegisteredName;

    public override string Description => "MetaSGD with rating MSE plus a full-softmax ranking loss (two-head networks)";

    public override InnerRatePolicy CreateRates(FastWeightSpec spec, Hyperparameters hyper) => new PerParameterRates(spec, hyper.InnerLearningRate);

    public override InnerLoss CreateLoss(Hyperparameters hyper) => new SoftmaxRankingLoss(DefaultRankingWeight);

    /// <summary>The query loss is the same rating-plus-ranking loss: the list is what the outer loop must improve.</summary>
    public override InnerLoss CreateOuterLoss(Hyperparameters hyper) => new SoftmaxRankingLoss(DefaultRankingWeight);
}

using Streaming.Learning.Networks;
using static TorchSharp.torch;

namespace Streaming.Learning.Methods;

/// <summary>
/// The two-head loss with the list judged as the top-N protocol judges it: rating MSE plus <see cref="RankingWeight"/>
/// times a full-softmax ranking loss whose positives are weighted by whether the user liked them
/// (rating &gt;= <see cref="LikedRating"/>: weight 1; otherwise <see cref="OtherWeight"/>). Why: the served list is
/// scored on the held-back items a user liked, and a film picked then disliked is weaker evidence of what to show
/// (still some: picking it is the signal EASE reads). <see cref="SoftmaxRankingLoss"/> counts every pick the same.
/// </summary>
/// <remarks>
/// Its derivative is in closed form (<see cref="Gradient"/>), so a network with a hand-written backward of its list
/// head (the item-item network) adapts without autograd.
/// </remarks>
/// <param name="rankingWeight">Weight of the ranking term next to the rating MSE.</param>
/// <param name="otherWeight">Weight of a positive the user rated below <see cref="LikedRating"/>.</param>
public sealed class LikedRankingLoss(float rankingWeight, float otherWeight) : InnerLoss("liked_ranking")
{
    /// <summary>A rating at least this is "liked" (the top-N protocol's relevance).</summary>
    public const float LikedRating = 4;

    /// <summary>Weight of the ranking term next to the rating MSE.</summary>
    public float RankingWeight { get; } = rankingWeight;

    /// <summary>Weight of a positive rated below <see cref="LikedRating"/>.</summary>
    public float OtherWeight { get; } = otherWeight;

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
        return Ranking(pass, targets, OtherWeight) is { } ranking ? mse + (RankingWeight * ranking) : mse;
    }

    /// <summary>
    /// The MSE term's derivative, and for a pass with a catalogue normaliser the ranking term's: with w the positions'
    /// weights and W their sum, the term is RankingWeight * sum_j w_j (logsumexp_j - score_j) / W, so d/dlogsumexp_j is
    /// RankingWeight * w_j / W and d/dscore_j its negative (the normaliser's own dependence on the scores is the network's).
    /// </summary>
    public override PassGradient Gradient(NetworkPass pass, SupportTargets targets)
    {
        ArgumentNullException.ThrowIfNull(pass);
        ArgumentNullException.ThrowIfNull(targets);
        var dPrediction = MseLoss.Derivative(pass.Prediction, targets);
        if (pass is not RankingPass { CatalogueLogSumExp: not null })
        {
            return new PassGradient(dPrediction);
        }

        var weight = targets.Mask * where(targets.Ratings.ge(LikedRating), 1f, OtherWeight);
        var dLogSumExp = weight * (RankingWeight / weight.sum(1, keepdim: true).clamp_min(1e-6));
        return new PassGradient(dPrediction, RankScores: -dLogSumExp, CatalogueLogSumExp: dLogSumExp);
    }

    /// <summary>Each user's weighted ranking term alone, [users] (null when the pass has no catalogue normaliser).</summary>
    public static Tensor? Ranking(NetworkPass pass, SupportTargets targets, float otherWeight)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (pass is not RankingPass { CatalogueLogSumExp: { } logSumExp } ranked)
        {
            return null;
        }

        var weight = targets.Mask * where(targets.Ratings.ge(LikedRating), 1f, otherWeight);
        var negativeLogLikelihood = (logSumExp - ranked.RankScores) * weight;
        return negativeLogLikelihood.sum(1) / weight.sum(1).clamp_min(1e-6);
    }
}

/// <summary>
/// MetaSGD (Li et al., 2017) with <see cref="LikedRankingLoss"/>: a learned inner rate per fast parameter; the inner
/// and outer loops fit the rating head and rank the catalogue with the list head, liked items first.
/// </summary>
public sealed class MetaSgdLiked : MetaMethod
{
    /// <summary>The registered name.</summary>
    public const string RegisteredName = "metasgd-liked";

    /// <summary>Weight of a positive rated below 4 stars.</summary>
    public const float DefaultOtherWeight = 0.3f;

    public override string Name => RegisteredName;

    public override string Description => "MetaSGD with rating MSE plus a full-softmax ranking loss on liked items (two-head networks)";

    public override InnerRatePolicy CreateRates(FastWeightSpec spec, Hyperparameters hyper) => new PerParameterRates(spec, hyper.InnerLearningRate);

    public override InnerLoss CreateLoss(Hyperparameters hyper) => new LikedRankingLoss(MetaSgdRanking.DefaultRankingWeight, DefaultOtherWeight);

    /// <summary>The query loss is the same loss: the list is what the outer loop must improve.</summary>
    public override InnerLoss CreateOuterLoss(Hyperparameters hyper) => new LikedRankingLoss(MetaSgdRanking.DefaultRankingWeight, DefaultOtherWeight);
}

using Streaming.Learning.Networks;
using Streaming.Learning.Networks.ItemItem;
using Streaming.Learning.Networks.Mml;
using Streaming.Shared.Models;

namespace Streaming.Learning.Methods.Mml;

/// <summary>
/// MML (Pan et al.): the item-item network's ID/feature learner and a text learner, fused per user and item, with a
/// cold-start item embedding generator (<see cref="MmlNetwork"/>); trained as <see cref="MetaSgdLiked"/> is (learned
/// per-parameter inner rates; rating MSE plus the liked-items ranking loss, inner and outer).
/// </summary>
public sealed class MmlMethod : MetaMethod
{
    /// <summary>The registered name.</summary>
    public const string RegisteredName = "mml";

    public override string Name => RegisteredName;

    public override string Description => "MML: ID and text meta-learners with a learned fusion and a cold-start item embedding generator (item-item base)";

    /// <summary>MML builds on the item-item network.</summary>
    public override string? DefaultNetwork => ItemItemNetwork.Name;

    public override InnerRatePolicy CreateRates(FastWeightSpec spec, Hyperparameters hyper) => new PerParameterRates(spec, hyper.InnerLearningRate);

    public override InnerLoss CreateLoss(Hyperparameters hyper) => new LikedRankingLoss(MetaSgdRanking.DefaultRankingWeight, MetaSgdLiked.DefaultOtherWeight);

    public override InnerLoss CreateOuterLoss(Hyperparameters hyper) => new LikedRankingLoss(MetaSgdRanking.DefaultRankingWeight, MetaSgdLiked.DefaultOtherWeight);

    /// <inheritdoc />
    public override MetaNetwork CreateNetwork(MetaNetwork network, Hyperparameters hyper) =>
        network as MmlNetwork ?? new MmlNetwork(network);
}

using static TorchSharp.torch;

namespace Streaming.Learning.Networks;

/// <summary>
/// A forward pass of a network with two heads: <see cref="NetworkPass.Prediction"/> stays the predicted rating (MAE,
/// RMSE, nDCG@3), and <see cref="RankScores"/> are the list scores that <see cref="MetaNetwork.ScoreCatalogue"/>
/// serves. A ranking loss (<see cref="Methods.SoftmaxRankingLoss"/>) reads both.
/// </summary>
/// <param name="prediction">Predicted ratings, [users, positions].</param>
/// <param name="rankScores">List scores (logits of the user's next interaction) of the same positions, [users, positions].</param>
/// <param name="catalogueLogSumExp">
/// The softmax normaliser of each position over the catalogue (log sum of exp(list score)), [users, positions]
/// (a network may leave some items out of it, the user's history say); null when the network was not given the
/// catalogue (then no full-softmax ranking loss can be formed).
/// </param>
public class RankingPass(Tensor prediction, Tensor rankScores, Tensor? catalogueLogSumExp) : NetworkPass(prediction)
{
    /// <summary>List scores of the positions, [users, positions].</summary>
    public Tensor RankScores { get; } = rankScores;

    /// <summary>The catalogue softmax normaliser of each position, [users, positions], or null.</summary>
    public Tensor? CatalogueLogSumExp { get; } = catalogueLogSumExp;
}

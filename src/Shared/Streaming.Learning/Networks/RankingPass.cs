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
/// Forms the softmax normaliser of each position over the catalogue (log sum of exp(list score)), [users, positions]
/// (a network may leave some items out of it, the user's history say); it returns null when the network was not given
/// the catalogue (then no full-softmax ranking loss can be formed). Called at most once, when a loss first asks: it
/// scores the whole catalogue, which a pass for the ratings alone (serving's predicted ratings) does not need.
/// </param>
public class RankingPass(Tensor prediction, Tensor rankScores, Func<Tensor?> catalogueLogSumExp) : NetworkPass(prediction)
{
    private readonly Lazy<Tensor?> logSumExp = new(catalogueLogSumExp, LazyThreadSafetyMode.None);

    /// <summary>List scores of the positions, [users, positions].</summary>
    public Tensor RankScores { get; } = rankScores;

    /// <summary>The catalogue softmax normaliser of each position, [users, positions], or null (formed on first use).</summary>
    public Tensor? CatalogueLogSumExp => logSumExp.Value;
}

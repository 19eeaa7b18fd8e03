using static TorchSharp.torch;

namespace Streaming.Learning.Networks.ItemItem;

/// <summary>
/// EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019) in torch: B = I - P / diag(P) with
/// a zero diagonal, P = (X^T X + lambda I)^-1, over a binary user x item matrix X. The same model as the torch-free
/// baseline <c>EaseRecommender</c> (which the tests compare it with), computed with a Cholesky factorisation in
/// float64 and returned in float32, and lambda chosen on held-out users by recall of their liked items.
/// With a dropout p > 0 it is EDLAE (Steck, NeurIPS 2020): the regulariser lambda I + p / (1 - p) diag(X^T X), the
/// closed form of training EASE under input dropout p, which penalises the weights of popular items more.
/// </summary>
public static class ClosedFormEase
{
    /// <summary>
    /// The co-occurrence matrix X^T X, [items, items] float64, of users' distinct item indices (an index outside
    /// 1..items-1 is skipped: index 0 is the "unknown" identity, which gets an empty row and column).
    /// </summary>
    /// <remarks>Accumulated per user in C# (cost: the sum of squared history lengths), not as a dense product.</remarks>
    /// <param name="users">Each user's item indices.</param>
    /// <param name="items">The number of indices (the matrix's size).</param>
    /// <param name="historyCap">
    /// Null: every user weighs 1. Otherwise a user with n distinct items weighs min(1, cap / n), so that the few users
    /// with long histories do not outweigh everyone else: on MovieLens-1M a fifth of the training users have more than
    /// 100 ratings and most of the interactions, and new users have a few.
    /// </param>
    public static Tensor Gram(IEnumerable<IReadOnlyCollection<int>> users, int items, double? historyCap = null)
    {
        ArgumentNullException.ThrowIfNull(users);
        var g = new double[(long)items * items];
        foreach (var user in users)
        {
            var distinct = user.Where(i => i > 0 && i < items).Distinct().ToArray();
            double weight = historyCap is double cap ? Math.Min(1, cap / Math.Max(1, distinct.Length)) : 1;
            foreach (int a in distinct)
            {
                long row = (long)a * items;
                foreach (int b in distinct)
                {
                    g[row + b] += weight;
                }
            }
        }

        return tensor(g, float64).reshape(items, items);
    }

    /// <summary>
    /// The EASE weights for <paramref name="lambda"/> (EDLAE's with <paramref name="dropout"/> above 0), [items, items]
    /// float32 (row: a support item; column: a scored item).
    /// </summary>
    public static Tensor Weights(Tensor gram, double lambda, double dropout = 0)
    {
        ArgumentNullException.ThrowIfNull(gram);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(lambda);
        if (dropout is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "EDLAE's dropout must lie in [0, 1)");
        }

        using var scope = NewDisposeScope();
        long n = gram.shape[0];
        var a = gram + diag(lambda + (dropout / (1 - dropout) * gram.diagonal()));
        var p = linalg.cholesky(a).cholesky_inverse();
        // B[i][j] = -P[i][j] / P[j][j] off the diagonal (Steck, Eq. 8), 0 on it.
        var b = -(p / p.diagonal().unsqueeze(0));
        b = b.masked_fill(eye(n, dtype: @bool, device: gram.device), 0);
        return b.to(float32).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Recall@<paramref name="k"/> of EASE weights on held-out users: rank every known item outside the support
    /// set by x_support B and look for the liked items (1 per liked item in the top k, over the liked items).
    /// </summary>
    /// <param name="weights">[items, items] EASE weights.</param>
    /// <param name="support">[users, items] binary support vectors (column 0 unused).</param>
    /// <param name="liked">[users, items] binary vectors of the liked held-out items.</param>
    /// <param name="k">List length.</param>
    public static double Recall(Tensor weights, Tensor support, Tensor liked, int k)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(support);
        ArgumentNullException.ThrowIfNull(liked);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var scores = support.matmul(weights).masked_fill(support.gt(0), float.NegativeInfinity);
        scores[.., 0] = float.NegativeInfinity;
        var top = scores.topk(k, dim: 1).indexes;
        var hits = liked.gather(1, top).sum(1);
        var count = liked.sum(1);
        var has = count.gt(0);
        return (hits.masked_select(has) / count.masked_select(has)).mean().item<float>();
    }
}

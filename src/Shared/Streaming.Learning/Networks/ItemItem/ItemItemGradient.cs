using static TorchSharp.torch;

namespace Streaming.Learning.Networks.ItemItem;

/// <summary>
/// The item-item network's catalogue side of one forward pass: every catalogue item's list score for each user, with
/// the user's history left out (-infinity), formed once when a loss first asks for the softmax normaliser, and the
/// catalogue's list vectors and EASE scores that the backward needs for the normaliser's derivative.
/// </summary>
internal sealed class UnseenCatalogue(Func<Tensor?> scores, Tensor? listVectors, Tensor ease)
{
    private readonly Lazy<Tensor?> masked = new(scores, LazyThreadSafetyMode.None);

    /// <summary>List scores of every catalogue item, [users, items], -infinity on each user's history; null without a catalogue.</summary>
    public Tensor? Scores => masked.Value;

    /// <summary>The catalogue's list vectors q, [items, D].</summary>
    public Tensor? ListVectors => listVectors;

    /// <summary>Each user's EASE score of every catalogue item, [users, items].</summary>
    public Tensor Ease => ease;

    /// <summary>
    /// The normaliser of each position, [users, positions]: the position itself plus every unseen catalogue item,
    /// logaddexp(logsumexp over unseen items, its own score).
    /// </summary>
    public Func<Tensor?> LogSumExpWith(Tensor list) => () => Scores is { } s ? s.logsumexp(1).unsqueeze(1).logaddexp(list) : null;
}

/// <summary>A forward pass of <see cref="ItemItemNetwork"/> over each user's own items (the inner loop's), with what <see cref="ItemItemGradient"/> reads.</summary>
internal sealed class ItemItemPass(Tensor rating, Tensor list, UnseenCatalogue unseen, Tensor listVectors, Tensor ratingVectors, Tensor ease, Tensor gain)
    : RankingPass(rating, list, unseen.LogSumExpWith(list))
{
    /// <summary>The catalogue side of the pass.</summary>
    public UnseenCatalogue Unseen { get; } = unseen;

    /// <summary>The positions' list vectors q, [users, positions, D].</summary>
    public Tensor ListVectors { get; } = listVectors;

    /// <summary>The positions' rating vectors p, [users, positions, D].</summary>
    public Tensor RatingVectors { get; } = ratingVectors;

    /// <summary>Each user's EASE score of the positions, [users, positions].</summary>
    public Tensor Ease { get; } = ease;

    /// <summary>Each user's EASE gain g (1 + a), [users, 1].</summary>
    public Tensor Gain { get; } = gain;
}

/// <summary>
/// The item-item network's inner gradient in closed form: why, every adaptation step of the default model ran
/// autograd over a few dozen small operations, which cost more than the arithmetic (about 1 ms a step for one user).
/// </summary>
/// <remarks>
/// With list score s = g (1 + a) e + q.u + c and rating r = mu + c' + b + p.v + shared (e the EASE score, c and c' item
/// biases, shared free of fast weights):
/// <list type="bullet">
/// <item>dv = sum_j dr_j p_j and db = sum_j dr_j;</item>
/// <item>each position's normaliser is N_j = logaddexp(Z, s_j), Z the logsumexp of the unseen items' scores, so
/// dN_j/ds_j = sigma_j = exp(s_j - N_j) and dN_j/dZ = 1 - sigma_j;</item>
/// <item>dZ/du = sum_c pi_c q_c and dZ/d(g (1 + a)) = sum_c pi_c e_c, pi the softmax over the unseen items;</item>
/// <item>so, with ds_j = dscore_j + dN_j sigma_j and dZ = sum_j dN_j (1 - sigma_j):
/// du = sum_j ds_j q_j + dZ sum_c pi_c q_c and da = g (sum_j ds_j e_j + dZ sum_c pi_c e_c).</item>
/// </list>
/// Checked against autograd (<c>ItemItemNetworkTests.HandWrittenGradient_MatchesAutograd_ForTheLikedRankingLoss</c>).
/// </remarks>
internal sealed class ItemItemGradient(ItemItemNetwork network) : IFastGradient
{
    public FastWeights Backward(NetworkPass pass, PassGradient gradient, FastWeights fast)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        ArgumentNullException.ThrowIfNull(fast);
        if (pass is not ItemItemPass p)
        {
            throw new ArgumentException("not an item-item pass over each user's own items", nameof(pass));
        }

        var s = network.Slots;
        var dRating = gradient.Prediction;
        var dv = dRating.unsqueeze(1).bmm(p.RatingVectors).squeeze(1);
        var db = dRating.sum(1, keepdim: true);

        var dScore = gradient.RankScores ?? zeros_like(p.RankScores);
        Tensor? dZ = null;
        if (gradient.CatalogueLogSumExp is { } dNormaliser)
        {
            var normaliser = p.CatalogueLogSumExp
                ?? throw new ArgumentException("the loss reads a normaliser the pass could not form (no catalogue)", nameof(gradient));
            var sigma = (p.RankScores - normaliser).exp();
            dScore = dScore + (dNormaliser * sigma);
            dZ = (dNormaliser * (1 - sigma)).sum(1, keepdim: true);
        }

        var du = dScore.unsqueeze(1).bmm(p.ListVectors).squeeze(1);
        var dGain = (dScore * p.Ease).sum(1, keepdim: true);
        if (dZ is not null)
        {
            // A user whose history is the whole catalogue has no unseen item: pi is 0/0 there, and dZ is 0.
            var pi = softmax(p.Unseen.Scores!, 1).nan_to_num(0);
            du = du + (dZ * pi.matmul(p.Unseen.ListVectors!));
            dGain = dGain + (dZ * (pi * p.Unseen.Ease).sum(1, keepdim: true));
        }

        var grads = new Tensor[fast.Spec.Slots.Count];
        grads[s.List.Index] = du;
        grads[s.Gain.Index] = dGain * network.GainScale;
        grads[s.Rating.Index] = dv;
        grads[s.Bias.Index] = db;
        return new FastWeights(fast.Spec, grads);
    }
}

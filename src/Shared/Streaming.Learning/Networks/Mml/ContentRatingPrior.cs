using System.Globalization;
using Streaming.Learning.Inputs;
using Streaming.Shared.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Learning.Networks.Mml;

/// <summary>
/// A closed-form rating prior for items without interactions: how far above or below the mean an item's ratings are
/// likely to be, from what the training ratings say about its MPAA rate, genres, directors and actors. Each value's
/// deviation is the shrunk mean of its training items' rating deviations, (sum) / (count + <see cref="Shrinkage"/>); an
/// item's prior is a weighted sum of its kinds' mean value deviations, with the weights fitted by least squares on the
/// training items. Deviations are from the training ratings' mean.
/// </summary>
/// <remarks>
/// <para>Measured on MovieLens-1M's held-out users ("new items for new users", seed 1): the user's support mean has MAE
/// 0.909; that mean taken over the residuals of this prior, with the prior added, 0.883. The learned side-feature path
/// of the networks (embeddings pooled through a linear layer) had not found it: 0.905 at best. MML's content learner
/// (<see cref="MmlNetwork"/>) is this prior plus an adapted user bias.</para>
/// <para>Leave-one-out, both in the fit and whenever a training item is scored (<see cref="Predict"/>): a value's
/// deviation without the item's own ratings, which is what it would be for an item that has none. Otherwise a
/// director with one film would "predict" that film's own mean, and the weights, and a network that learns how far to
/// trust the prior, would trust it far more than a new item warrants.</para>
/// <para>Stored as frozen parameters: per value of each kind its rating deviation sum and count, per item identity its
/// own sum and count (the leave-one-out), the five weights and the mean.</para>
/// </remarks>
public sealed class ContentRatingPrior : nn.Module
{
    /// <summary>Ratings a value's deviation is shrunk by: a value seen in fewer ratings says less.</summary>
    public const double Shrinkage = 30;

    /// <summary>Ratings an item's own deviation (the fit's target) is shrunk by.</summary>
    public const double TargetShrinkage = 5;

    private readonly Parameter prior_rate;
    private readonly Parameter prior_genre;
    private readonly Parameter prior_director;
    private readonly Parameter prior_actor;
    private readonly Parameter prior_item;
    private readonly Parameter prior_weights;
    private readonly Parameter prior_mean;

    /// <summary>An empty prior (predicts 0 until <see cref="Fit"/>).</summary>
    /// <param name="features">The vocabularies: rate, genre, director and actor, and the item identities.</param>
    public ContentRatingPrior(FeatureSpace features) : base("prior")
    {
        ArgumentNullException.ThrowIfNull(features);
        var sizes = features.Vocabularies.Select(v => v.Size).ToArray();
        prior_rate = Frozen(sizes[0]);
        prior_genre = Frozen(sizes[1]);
        prior_director = Frozen(sizes[2]);
        prior_actor = Frozen(sizes[3]);
        prior_item = Frozen(features.ItemIds.Size);
        prior_weights = new Parameter(zeros(5), requires_grad: false);
        prior_mean = new Parameter(zeros(1), requires_grad: false);
        RegisterComponents();
    }

    /// <summary>
    /// Fits the value tables and the weights on the training ratings (<paramref name="train"/>'s support and query sets)
    /// of the catalogue's items.
    /// </summary>
    /// <param name="train">The training users' tasks.</param>
    /// <param name="catalogue">The training catalogue (items without ratings contribute nothing).</param>
    /// <param name="identityOf">An item id's identity index (the table <see cref="Predict"/> is given).</param>
    /// <returns>One line: what was fitted.</returns>
    public string Fit(IReadOnlyList<UserTask> train, ItemFeatureTable catalogue, Func<int, long> identityOf)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(catalogue);
        ArgumentNullException.ThrowIfNull(identityOf);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ratings = train.SelectMany(t => t.Support.Concat(t.Query)).ToArray();
        double mean = ratings.Length == 0 ? 0 : ratings.Average(r => r.Value);
        prior_mean.fill_(mean);
        var sum = new double[catalogue.Count];
        var count = new double[catalogue.Count];
        foreach (var r in ratings)
        {
            if (catalogue.TryGetRow(r.ItemId, out int row))
            {
                sum[row] += r.Value - mean;
                count[row]++;
            }
        }

        var device = prior_weights.device;
        var own = stack([tensor(sum, device: device), tensor(count, device: device)], 1);   // [items, 2], float64
        var identity = tensor(catalogue.ItemIds.Select(identityOf).ToArray(), device: device);
        prior_item.zero_();
        prior_item.index_copy_(0, identity, own.to(float32));
        prior_item[FeatureVocabulary.Unknown].zero_();   // items without an identity have no ratings of their own

        using var items = new ItemFeatureTensors(catalogue, device);
        var kinds = Kinds(items);
        var tables = new[] { prior_rate, prior_genre, prior_director, prior_actor };
        for (int k = 0; k < kinds.Length; k++)
        {
            var (index, weight) = kinds[k];
            // Each value's sums over the items that have it (every slot of weight > 0 is one distinct value).
            var has = weight.gt(0).to(float64).unsqueeze(-1);
            var contribution = (own.unsqueeze(1) * has).reshape(-1, 2);
            tables[k].zero_();
            tables[k].index_add_(0, index.flatten(), contribution.to(float32), 1);
        }

        // Least squares of each rated item's shrunk deviation on its leave-one-out kind deviations (and 1), weighted by
        // the square root of its ratings.
        var x = cat([Features(items, own.to(float32)), ones(catalogue.Count, 1, device: device)], 1).to(float64);
        var rated = own.select(1, 1).gt(0);
        var target = own.select(1, 0) / (own.select(1, 1) + TargetShrinkage);
        var w = own.select(1, 1).sqrt().masked_fill(rated.logical_not(), 0).unsqueeze(1);
        var gram = x.t().matmul(x * w) + (1e-3 * eye(5, dtype: float64, device: device));
        var weights = linalg.solve(gram, x.t().matmul(target.unsqueeze(1) * w)).squeeze(1);
        prior_weights.copy_(weights.to(float32));
        var fitted = x.matmul(weights);
        double before = (target.abs() * w.squeeze(1)).sum().item<double>(), after = ((target - fitted).abs() * w.squeeze(1)).sum().item<double>();
        var named = weights.data<double>().ToArray();
        return string.Create(CultureInfo.InvariantCulture,
            $"content rating prior over {rated.sum().item<long>()} rated items: weights rate {named[0]:F2}, genre {named[1]:F2}, director {named[2]:F2}, actor {named[3]:F2}, bias {named[4]:F3}; weighted absolute deviation {before / w.sum().item<double>():F3} -> {after / w.sum().item<double>():F3} (leave-one-out)");
    }

    /// <summary>
    /// [items] each item's predicted rating deviation from the mean. <paramref name="identity"/> is each row's item
    /// identity (0: none): a training item's own ratings are left out.
    /// </summary>
    public Tensor Predict(ItemFeatureTensors items, Tensor identity)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(identity);
        using var scope = NewDisposeScope();
        var own = prior_item.index_select(0, identity);
        var x = Features(items, own);
        return (x.matmul(prior_weights.narrow(0, 0, 4)) + prior_weights[4]).MoveToOuterDisposeScope();
    }

    /// <summary>[items] each item's prior rating: the training ratings' mean plus <see cref="Predict"/>.</summary>
    public Tensor PredictRating(ItemFeatureTensors items, Tensor identity) => prior_mean + Predict(items, identity);

    private static Parameter Frozen(int size) => new(zeros(size, 2), requires_grad: false);

    // (index, weight) per kind, [items, slots] each: rate, genres, directors, actors.
    private static (Tensor Index, Tensor Weight)[] Kinds(ItemFeatureTensors items) =>
    [
        (items.Rate.unsqueeze(1), ones(items.Count, 1, device: items.Rate.device)),
        (items.GenreIndex, items.GenreWeight),
        (items.DirectorIndex, items.DirectorWeight),
        (items.ActorIndex, items.ActorWeight),
    ];

    // [items, 4] each kind's mean leave-one-out value deviation; own: [items, 2] each item's own sum and count.
    private Tensor Features(ItemFeatureTensors items, Tensor own)
    {
        var tables = new[] { prior_rate, prior_genre, prior_director, prior_actor };
        var kinds = Kinds(items);
        var columns = new Tensor[kinds.Length];
        for (int k = 0; k < kinds.Length; k++)
        {
            var (index, weight) = kinds[k];
            // The item's own ratings are left out of its values only (padding slots, of weight 0, point at the unknown
            // value, which may hold fewer ratings than the item has).
            var has = weight.gt(0).to(float32).unsqueeze(-1);
            var stats = tables[k].index_select(0, index.flatten()).reshape(index.shape[0], index.shape[1], 2) - (own.unsqueeze(1) * has);
            var deviation = stats.select(2, 0) / (stats.select(2, 1) + (float)Shrinkage);
            columns[k] = (deviation * weight).sum(1);
        }

        return stack(columns, 1);
    }
}

using Streaming.Shared.Data;
using static TorchSharp.torch;

namespace Streaming.Learning.Serving;

/// <summary>
/// MeLU's evidence candidates: items whose ratings teach the model most about a new user. Each item is scored
/// by the mean norm of the personalised gradient (the gradient of one rating's loss with respect to the fast
/// weights, at the meta-initialisation) over the users who rated it, times its popularity, both normalised by
/// their maximum; the top items are the onboarding items.
/// </summary>
public static class EvidenceCandidates
{
    private const int RatingsPerBatch = 4096;

    /// <param name="model">The trained meta-model.</param>
    /// <param name="items">The catalogue table the network was trained with, and its tensors.</param>
    /// <param name="features">The model's vocabularies.</param>
    /// <param name="tasks">Training users' ratings (support and query are both used).</param>
    /// <param name="profiles">Profiles by user id.</param>
    /// <param name="count">How many items each list holds.</param>
    public static OnboardingItems Compute(
        MetaModule model,
        ItemFeatureTensors items,
        FeatureSpace features,
        IReadOnlyList<UserTask> tasks,
        IReadOnlyDictionary<int, UserProfile> profiles,
        int count = 100)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(tasks);
        // One task per rating, so the batched gradient is one rating's personalised gradient per row.
        var single = tasks.SelectMany(t => t.Support.Concat(t.Query).Select(r => new UserTask(t.UserId, [r], []))).ToArray();
        var table = items.Table;
        var normSum = new double[table.Count];
        var raters = new int[table.Count];
        var device = model.Device;
        var network = model.Network;
        using (no_grad())
        {
            using var scope = NewDisposeScope();
            Tensor embeddings = network.EmbedItems(items);
            for (int start = 0; start < single.Length; start += RatingsPerBatch)
            {
                using var inner = NewDisposeScope();
                var chunk = single.AsSpan(start, Math.Min(RatingsPerBatch, single.Length - start)).ToArray();
                using var batch = TaskBatch.Create(chunk, table, features, profiles, device);
                Tensor users = network.EncodeUsers(batch.Users, embeddings);
                Tensor support = embeddings.index_select(0, batch.SupportRows.flatten()).reshape(chunk.Length, 1, -1);
                var grads = InnerLoop.Gradient(model, support, users, batch.SupportTargets, network.InitialFastWeights(users), secondOrder: false);
                Tensor squared = zeros(chunk.Length, device: device);
                foreach (var g in grads.Values)
                {
                    squared += g.reshape(chunk.Length, -1).square().sum(1);
                }

                var norms = squared.sqrt().cpu().data<float>().ToArray();
                var rows = batch.SupportRows.flatten().cpu().data<long>().ToArray();
                var mask = batch.SupportMask.flatten().cpu().data<float>().ToArray();
                for (int i = 0; i < chunk.Length; i++)
                {
                    if (mask[i] > 0)
                    {
                        normSum[rows[i]] += norms[i];
                        raters[rows[i]]++;
                    }
                }
            }
        }

        double maxRaters = Math.Max(1, raters.Max());
        double maxNorm = Enumerable.Range(0, table.Count).Where(i => raters[i] > 0).Select(i => normSum[i] / raters[i]).DefaultIfEmpty(1).Max();
        var evidence = Enumerable.Range(0, table.Count)
            .Where(i => raters[i] > 0)
            .Select(i => new ScoredItem(table.ItemIds[i], (float)(normSum[i] / raters[i] / maxNorm * (raters[i] / maxRaters))))
            .OrderByDescending(s => s.Score).ThenBy(s => s.ItemId)
            .Take(count)
            .ToList();
        var popular = Enumerable.Range(0, table.Count)
            .Where(i => raters[i] > 0)
            .Select(i => new ScoredItem(table.ItemIds[i], (float)(raters[i] / maxRaters)))
            .OrderByDescending(s => s.Score).ThenBy(s => s.ItemId)
            .Take(count)
            .ToList();
        return new OnboardingItems(evidence, popular);
    }
}

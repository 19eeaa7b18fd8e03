using Streaming.Shared.Data;
using static TorchSharp.torch;

namespace Streaming.Learning.Serving;

/// <summary>A user to personalise for: what they told us about themselves and what they interacted with.</summary>
public sealed record UserSession(UserProfile Profile, IReadOnlyList<Rating> Interactions);

/// <summary>
/// The recommendations for one user, the rating the model predicts for each (same order as <paramref name="Items"/>),
/// and optionally the fast state they were made with.
/// </summary>
public sealed record UserRecommendations(IReadOnlyList<ScoredItem> Items, float[]? FastState, IReadOnlyList<float>? PredictedRatings = null);

/// <summary>
/// Serving: adapts a batch of users at once (the batched inner loop, no autograd graph) and scores the
/// whole catalogue for all of them in one product per layer, then returns each user's top items that they
/// have not interacted with yet. Item embeddings are computed once per catalogue and kept.
/// Not thread-safe: one batch at a time (the Adapter runs one batch loop per model).
/// </summary>
public sealed class BatchRecommender : IDisposable
{
    // Users are scored in chunks whose [items, users, hidden] activations stay near 16 MB: large enough for
    // efficient matrix products, small enough to stay in cache and to reuse the allocator's memory
    // (measured: one chunk of 256 users was 5x slower per user than one user at a time).
    private const long ChunkActivations = 4L * 1024 * 1024;

    private readonly ItemFeatureTensors items;
    private readonly PreparedCatalogue projection;

    /// <summary>Prepares <paramref name="catalogue"/> (encoded with the model's vocabularies) on the model's device.</summary>
    public BatchRecommender(MetaModel model, IEnumerable<ItemInfo> catalogue)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        Device = model.Module.Device;
        Catalogue = model.Features.EncodeItems(catalogue);
        items = new ItemFeatureTensors(Catalogue, Device);
        model.Module.eval();
        projection = model.Network.PrepareCatalogue(items);
    }

    public MetaModel Model { get; }

    public Device Device { get; }

    /// <summary>The encoded catalogue (row order of the scores).</summary>
    public ItemFeatureTable Catalogue { get; }

    /// <summary>Adapts every session with <paramref name="steps"/> local steps and returns its top <paramref name="topK"/> unseen items.</summary>
    /// <param name="sessions">The users of this batch.</param>
    /// <param name="steps">Local update steps (0: the meta-initialisation, no adaptation).</param>
    /// <param name="topK">How many items to return per user.</param>
    /// <param name="exportFastState">Also return each user's fast state (float32, in the network's fast-tensor order) for caching.</param>
    public IReadOnlyList<UserRecommendations> Recommend(IReadOnlyList<UserSession> sessions, int steps, int topK, bool exportFastState = false)
    {
        ArgumentNullException.ThrowIfNull(sessions);
        if (sessions.Count == 0)
        {
            return [];
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (users, fast) = AdaptBatch(sessions, steps);
        int maxSeen = sessions.Max(s => s.Interactions.Count);
        int k = (int)Math.Min(Catalogue.Count, topK + maxSeen);
        var (values, indices) = TopScores(users, fast, k);
        float[]? state = exportFastState ? fast.Flatten().cpu().data<float>().ToArray() : null;
        long stateSize = Model.Module.FastStateSize;

        // Each user's top unseen items (catalogue rows, best first), then the rating head on those alone: the k
        // candidates include the user's seen items (up to the longest history of the batch), and predicting for all of
        // them cost 0.07 ms per user batched (bench adapt: 0.398 -> 0.329 ms per user, medians of 3).
        var picks = new List<(long Row, float Score)>[sessions.Count];
        for (int u = 0; u < sessions.Count; u++)
        {
            var seen = new HashSet<int>(sessions[u].Interactions.Select(r => r.ItemId));
            picks[u] = new List<(long, float)>(topK);
            for (int j = 0; j < k && picks[u].Count < topK; j++)
            {
                long row = indices[u * k + j];
                if (!seen.Contains(Catalogue.ItemIds[row]))
                {
                    picks[u].Add((row, values[u * k + j]));
                }
            }
        }

        int width = picks.Max(p => p.Count);
        var rows = new long[sessions.Count * width];
        for (int u = 0; u < sessions.Count; u++)
        {
            for (int j = 0; j < width; j++)
            {
                rows[u * width + j] = j < picks[u].Count ? picks[u][j].Row : 0;   // padding: predicted, never returned
            }
        }

        var ratings = width == 0 ? [] : PredictedRatings(users, fast, rows, width);
        var results = new UserRecommendations[sessions.Count];
        for (int u = 0; u < sessions.Count; u++)
        {
            var top = picks[u].Select(p => new ScoredItem(Catalogue.ItemIds[p.Row], p.Score)).ToList();
            var predicted = ratings.AsSpan(u * width, picks[u].Count).ToArray();
            results[u] = new UserRecommendations(top, state?.AsSpan((int)(u * stateSize), (int)stateSize).ToArray(), predicted);
        }

        return results;
    }

    /// <summary>
    /// Adapts every session with <paramref name="steps"/> local steps and returns the scores the served list is ranked by,
    /// for each user and candidate item: row-major [users x candidates]; candidates outside the catalogue score -infinity.
    /// For evaluation (the top-N protocol ranks the same scores the Adapter serves).
    /// </summary>
    public float[] ScoreCandidates(IReadOnlyList<UserSession> sessions, int steps, IReadOnlyList<int> candidateItemIds)
    {
        ArgumentNullException.ThrowIfNull(sessions);
        ArgumentNullException.ThrowIfNull(candidateItemIds);
        if (sessions.Count == 0)
        {
            return [];
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (users, fast) = AdaptBatch(sessions, steps);
        var rows = candidateItemIds.Select(id => Catalogue.TryGetRow(id, out int row) ? row : -1).ToArray();
        Tensor index = tensor(rows.Select(r => (long)Math.Max(r, 0)).ToArray(), device: Device);
        var parts = new List<Tensor>();
        long chunk = Math.Max(1, ChunkActivations / (Catalogue.Count * Model.Network.ScoringWidth));
        for (long start = 0; start < users.shape[0]; start += chunk)
        {
            long n = Math.Min(chunk, users.shape[0] - start);
            parts.Add(Model.Network.ScoreCatalogue(projection, users.narrow(0, start, n), fast.Narrow(start, n)).index_select(1, index));
        }

        var scores = cat(parts, 0).cpu().data<float>().ToArray();
        for (int c = 0; c < rows.Length; c++)
        {
            if (rows[c] < 0)
            {
                for (int u = 0; u < sessions.Count; u++)
                {
                    scores[u * rows.Length + c] = float.NegativeInfinity;
                }
            }
        }

        return scores;
    }

    /// <summary>
    /// The served list as the top-N protocol's scoring function (<see cref="Shared.Evaluation.TopN.TopNEvaluator"/>):
    /// each task's support set is a new user's session, adapted with <paramref name="steps"/> local steps.
    /// </summary>
    /// <param name="profiles">Profiles by user id (missing: the unknown profile).</param>
    /// <param name="steps">Local update steps (0: the meta-initialisation).</param>
    public Func<IReadOnlyList<UserTask>, IReadOnlyList<int>, float[]> TaskScorer(IReadOnlyDictionary<int, UserProfile> profiles, int steps)
    {
        ArgumentNullException.ThrowIfNull(profiles);
        return (tasks, candidates) => ScoreCandidates([.. tasks.Select(t => new UserSession(profiles.GetValueOrDefault(t.UserId) ?? UserProfile.Unknown, t.Support))], steps, candidates);
    }

    /// <summary>
    /// Adapts every session and returns each user's fast state (float32 rows of <see cref="MetaModule.FastStateSize"/>
    /// values), without scoring: what a cache of fast weights needs.
    /// </summary>
    public float[] AdaptFastState(IReadOnlyList<UserSession> sessions, int steps)
    {
        ArgumentNullException.ThrowIfNull(sessions);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (_, fast) = AdaptBatch(sessions, steps);
        return fast.Flatten().cpu().data<float>().ToArray();
    }

    private (Tensor Users, FastWeights Fast) AdaptBatch(IReadOnlyList<UserSession> sessions, int steps)
    {
        var tasks = sessions.Select(s => new UserTask(0, s.Interactions, [])).ToArray();
        using var batch = TaskBatch.Create(tasks, Catalogue, Model.Features, (_, row) => sessions[row].Profile, Device);
        Tensor users = Model.Network.EncodeUsers(batch.Users, projection.Embeddings);
        Tensor support = projection.Embeddings.index_select(0, batch.SupportRows.flatten()).reshape(batch.SupportRows.shape[0], batch.SupportRows.shape[1], -1);
        return (users, Model.Module.Adapt(support, users, batch.SupportTargets, steps, secondOrder: false));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        projection.Dispose();
        items.Dispose();
    }

    // The rating head's prediction, on the rating scale, for each user's k top items ([users x k] row-major): the list
    // score ranks, and for the item-item network it is not a rating; online evaluation compares this with the rating
    // the user gives. A model with a rating decoder predicts whole stars, the point prediction its offline MAE is of.
    private float[] PredictedRatings(Tensor users, FastWeights fast, long[] indices, int k)
    {
        long b = users.shape[0];
        var rows = tensor(indices, device: Device);
        var top = projection.Embeddings.index_select(0, rows).reshape(b, k, -1);
        var prediction = Model.Network.Forward(top, users, fast).Prediction;
        var expected = prediction.clamp(Rating.MinValue, Rating.MaxValue).cpu().data<float>().ToArray();
        return Model.Manifest.RatingDecoder is { } decoder ? Array.ConvertAll(expected, decoder.Decode) : expected;
    }

    private (float[] Values, long[] Indices) TopScores(Tensor users, FastWeights fast, int k)
    {
        long b = users.shape[0];
        long chunk = Math.Max(1, ChunkActivations / (Catalogue.Count * Model.Network.ScoringWidth));
        var values = new List<Tensor>();
        var indices = new List<Tensor>();
        for (long start = 0; start < b; start += chunk)
        {
            long n = Math.Min(chunk, b - start);
            var part = fast.Narrow(start, n);
            var (v, i) = Model.Network.ScoreCatalogue(projection, users.narrow(0, start, n), part).topk(k, dim: 1);
            values.Add(v);
            indices.Add(i);
        }

        return (cat(values, 0).cpu().data<float>().ToArray(), cat(indices, 0).cpu().data<long>().ToArray());
    }
}

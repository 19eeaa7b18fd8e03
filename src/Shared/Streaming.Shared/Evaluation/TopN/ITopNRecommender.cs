using Streaming.Shared.Data;

namespace Streaming.Shared.Evaluation.TopN;

/// <summary>
/// A recommender that ranks candidate items for users it has never seen, from their support sets (RecBole's
/// <c>full_sort_predict</c>): fitted once on training interactions, then asked for scores of whole candidate lists.
/// </summary>
/// <remarks>
/// The evaluator hands <see cref="Score"/> tasks whose query sets are empty, so no implementation can read the
/// ratings it is judged on. Implementations are not thread-safe: one <see cref="Score"/> call at a time.
/// </remarks>
public interface ITopNRecommender
{
    /// <summary>Short name for reports ("popularity", "ease", ...).</summary>
    string Name { get; }

    /// <summary>Learns from <paramref name="train"/>: the training users' interactions and the item catalogue.</summary>
    void Fit(TopNTrainingData train);

    /// <summary>
    /// Scores every candidate for every user; higher is better. Items the recommender knows nothing of get a finite
    /// low score or <see cref="float.NegativeInfinity"/>; the evaluator removes each user's support items itself.
    /// </summary>
    /// <param name="users">The users, with their support sets (query sets empty).</param>
    /// <param name="candidateItemIds">The items to score, the same for every user.</param>
    /// <param name="scores">Row-major [users x candidates] output.</param>
    /// <exception cref="InvalidOperationException">Called before <see cref="Fit"/>.</exception>
    void Score(IReadOnlyList<UserTask> users, ReadOnlySpan<int> candidateItemIds, Span<float> scores);
}

/// <summary>
/// What a top-N recommender may be fitted on: training users' interactions (never an evaluated user's) and the item
/// catalogue with its side features (which are not interactions, so they may include items nobody has rated).
/// </summary>
public sealed class TopNTrainingData
{
    private InteractionMatrix? _matrix;

    /// <summary>Wraps <paramref name="ratings"/> (interactions) and <paramref name="items"/> (catalogue).</summary>
    public TopNTrainingData(IReadOnlyList<Rating> ratings, IReadOnlyDictionary<int, ItemInfo> items)
    {
        ArgumentNullException.ThrowIfNull(ratings);
        ArgumentNullException.ThrowIfNull(items);
        Ratings = ratings;
        Items = items;
    }

    /// <summary>The training interactions (explicit ratings; the collaborative baselines read them as binary).</summary>
    public IReadOnlyList<Rating> Ratings { get; }

    /// <summary>The catalogue, by item id.</summary>
    public IReadOnlyDictionary<int, ItemInfo> Items { get; }

    /// <summary>The support and query ratings of training tasks (what the meta-model is trained on).</summary>
    public static TopNTrainingData FromTasks(IEnumerable<UserTask> trainingTasks, IReadOnlyDictionary<int, ItemInfo> items)
    {
        ArgumentNullException.ThrowIfNull(trainingTasks);
        return new TopNTrainingData([.. trainingTasks.SelectMany(t => t.Support.Concat(t.Query))], items);
    }

    /// <summary>The binary user-item matrix of <see cref="Ratings"/>, built once.</summary>
    internal InteractionMatrix Matrix => _matrix ??= new InteractionMatrix(Ratings);
}

/// <summary>The training interactions as a binary user x item matrix: items that occur, and each user's distinct items.</summary>
internal sealed class InteractionMatrix
{
    public InteractionMatrix(IReadOnlyList<Rating> ratings)
    {
        var byUser = new Dictionary<int, HashSet<int>>();
        var itemSet = new HashSet<int>();
        foreach (var r in ratings)
        {
            if (!byUser.TryGetValue(r.UserId, out var set))
            {
                byUser[r.UserId] = set = [];
            }

            set.Add(r.ItemId);
            itemSet.Add(r.ItemId);
        }

        ItemIds = [.. itemSet.Order()];
        IndexOf = new Dictionary<int, int>(ItemIds.Length);
        for (var i = 0; i < ItemIds.Length; i++)
        {
            IndexOf[ItemIds[i]] = i;
        }

        UserItems = [.. byUser.OrderBy(p => p.Key).Select(p => p.Value.Select(id => IndexOf[id]).Order().ToArray())];
    }

    /// <summary>Item ids with at least one interaction, ascending; position = item index.</summary>
    public int[] ItemIds { get; }

    public Dictionary<int, int> IndexOf { get; }

    /// <summary>Per user (ascending user id), the sorted distinct item indices.</summary>
    public int[][] UserItems { get; }

    /// <summary>Item-item co-occurrence counts X^T X, dense row-major (diagonal: item counts).</summary>
    public double[] Gram()
    {
        var n = ItemIds.Length;
        var g = new double[(long)n * n];
        foreach (var items in UserItems)
        {
            for (var a = 0; a < items.Length; a++)
            {
                var row = (long)items[a] * n;
                for (var b = 0; b <= a; b++)
                {
                    g[row + items[b]] += 1;
                }
            }
        }

        // Mirror the lower triangle (items are sorted, so b <= a filled only it).
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < i; j++)
            {
                g[((long)j * n) + i] = g[((long)i * n) + j];
            }
        }

        return g;
    }

    /// <summary>Per candidate, its item index or -1 when the item has no training interaction.</summary>
    public int[] MapCandidates(ReadOnlySpan<int> candidateItemIds)
    {
        var map = new int[candidateItemIds.Length];
        for (var c = 0; c < map.Length; c++)
        {
            map[c] = IndexOf.TryGetValue(candidateItemIds[c], out var index) ? index : -1;
        }

        return map;
    }

    /// <summary>
    /// Scores = sum over each user's support items (known ones, counted once) of their row of the dense item-item
    /// <paramref name="weights"/>, gathered at the candidates; <paramref name="unknown"/> for candidates without interactions.
    /// </summary>
    public void ScoreByItemRows(
        float[] weights, IReadOnlyList<UserTask> users, ReadOnlySpan<int> candidateItemIds, Span<float> scores, float unknown)
    {
        var n = ItemIds.Length;
        var map = MapCandidates(candidateItemIds);
        var row = new float[n];
        var seen = new HashSet<int>();
        for (var u = 0; u < users.Count; u++)
        {
            Array.Clear(row);
            seen.Clear();
            foreach (var r in users[u].Support)
            {
                if (IndexOf.TryGetValue(r.ItemId, out var i) && seen.Add(i))
                {
                    AddTo(row, weights.AsSpan(i * n, n));
                }
            }

            var target = scores.Slice(u * map.Length, map.Length);
            for (var c = 0; c < map.Length; c++)
            {
                target[c] = map[c] < 0 ? unknown : row[map[c]];
            }
        }
    }

    /// <summary>target += source, vectorised.</summary>
    internal static void AddTo(Span<float> target, ReadOnlySpan<float> source)
    {
        var t = System.Runtime.InteropServices.MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(target);
        var s = System.Runtime.InteropServices.MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(source);
        for (var v = 0; v < t.Length; v++)
        {
            t[v] += s[v];
        }

        for (var k = t.Length * System.Numerics.Vector<float>.Count; k < target.Length; k++)
        {
            target[k] += source[k];
        }
    }
}

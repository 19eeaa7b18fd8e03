using Streaming.Shared.Data;

namespace Streaming.Shared.Evaluation.TopN;

/// <summary>
/// Content-based kNN: cosine similarity of items over their binary side features (genres, directors, actors, MPAA
/// rate; one dimension per distinct value), and a user's score for item j is the sum of cos(s, j) over the user's
/// support items s (each counted once). It reads only the catalogue, never an interaction, so it ranks items
/// nobody has rated yet: the baseline for "new items for new users".
/// </summary>
public sealed class ContentKnnRecommender : ITopNRecommender
{
    private Dictionary<int, (int[] Tokens, float InverseNorm)>? _items;
    private int _vocabulary;

    /// <inheritdoc />
    public string Name => "content_knn";

    /// <inheritdoc />
    public void Fit(TopNTrainingData train)
    {
        ArgumentNullException.ThrowIfNull(train);
        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        var items = new Dictionary<int, (int[] Tokens, float InverseNorm)>();
        foreach (var item in train.Items.Values.OrderBy(i => i.ItemId))
        {
            var tokens = new SortedSet<int>();
            void Add(string kind, string value)
            {
                if (value.Length == 0)
                {
                    return;
                }

                // The kind prefix keeps a director and an actor of the same name apart.
                var key = kind + value;
                if (!vocabulary.TryGetValue(key, out var index))
                {
                    vocabulary[key] = index = vocabulary.Count;
                }

                tokens.Add(index);
            }

            Add("rate:", item.Rate);
            foreach (var g in item.Genres)
            {
                Add("genre:", g);
            }

            foreach (var d in item.Directors)
            {
                Add("director:", d);
            }

            foreach (var a in item.Actors)
            {
                Add("actor:", a);
            }

            if (tokens.Count > 0)
            {
                items[item.ItemId] = ([.. tokens], 1 / MathF.Sqrt(tokens.Count));
            }
        }

        _items = items;
        _vocabulary = vocabulary.Count;
    }

    /// <inheritdoc />
    public void Score(IReadOnlyList<UserTask> users, ReadOnlySpan<int> candidateItemIds, Span<float> scores)
    {
        ArgumentNullException.ThrowIfNull(users);
        var items = _items ?? throw new InvalidOperationException("Fit the content-kNN recommender first.");
        TopNChecks.ScoreShape(users.Count, candidateItemIds.Length, scores.Length);
        var candidates = new (int[] Tokens, float InverseNorm)?[candidateItemIds.Length];
        for (var c = 0; c < candidates.Length; c++)
        {
            candidates[c] = items.TryGetValue(candidateItemIds[c], out var entry) ? entry : null;
        }

        // sum_s cos(s, j) = (sum_s x_s / |x_s|) . x_j / |x_j|: one profile vector per user, then one sparse dot per item.
        var profile = new float[_vocabulary];
        var seen = new HashSet<int>();
        for (var u = 0; u < users.Count; u++)
        {
            Array.Clear(profile);
            seen.Clear();
            foreach (var r in users[u].Support)
            {
                if (seen.Add(r.ItemId) && items.TryGetValue(r.ItemId, out var s))
                {
                    foreach (var t in s.Tokens)
                    {
                        profile[t] += s.InverseNorm;
                    }
                }
            }

            for (var c = 0; c < candidates.Length; c++)
            {
                var score = 0f;
                if (candidates[c] is { } item)
                {
                    foreach (var t in item.Tokens)
                    {
                        score += profile[t];
                    }

                    score *= item.InverseNorm;
                }

                scores[(u * candidates.Length) + c] = score;
            }
        }
    }
}

using Streaming.Shared.Data;

namespace Streaming.Shared.Evaluation.TopN;

/// <summary>
/// Uniform random scores, a pure function of (seed, user, item): the same whatever the batching or candidate order.
/// The floor every recommender must beat, and the only collaborative-free baseline besides content.
/// </summary>
/// <param name="seed">Seed of the scores.</param>
public sealed class RandomRecommender(int seed = 1) : ITopNRecommender
{
    /// <inheritdoc />
    public string Name => "random";

    /// <inheritdoc />
    public void Fit(TopNTrainingData train) => ArgumentNullException.ThrowIfNull(train);

    /// <inheritdoc />
    public void Score(IReadOnlyList<UserTask> users, ReadOnlySpan<int> candidateItemIds, Span<float> scores)
    {
        ArgumentNullException.ThrowIfNull(users);
        TopNChecks.ScoreShape(users.Count, candidateItemIds.Length, scores.Length);
        for (var u = 0; u < users.Count; u++)
        {
            var userKey = ((ulong)(uint)seed << 32) | (uint)users[u].UserId;
            for (var c = 0; c < candidateItemIds.Length; c++)
            {
                var h = StableHash.Mix(StableHash.Mix(userKey) ^ (uint)candidateItemIds[c]);
                scores[(u * candidateItemIds.Length) + c] = (h >> 40) / (float)(1 << 24);
            }
        }
    }
}

using Streaming.Shared.Contracts;

namespace Streaming.Shared.Sessions;

/// <summary>
/// Groups a batch's events per user for the Redis stores: a user's events keep their order (sessions are
/// per user, so the order across users does not matter), and each group is read and written once.
/// </summary>
internal static class UserGroups
{
    /// <summary>
    /// The indexes of each user's events, in order of first appearance, bucketed by <paramref name="slotOf"/>
    /// (Redis Cluster: a script's keys must share a slot); null puts every user in one bucket.
    /// </summary>
    public static IEnumerable<List<List<int>>> Buckets(IReadOnlyList<Interaction> interactions, Func<string, int>? slotOf)
    {
        var byUser = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var groups = new List<List<int>>();
        for (int i = 0; i < interactions.Count; i++)
        {
            if (!byUser.TryGetValue(interactions[i].UserId, out var group))
            {
                group = [];
                byUser.Add(interactions[i].UserId, group);
                groups.Add(group);
            }

            group.Add(i);
        }

        if (slotOf is null)
        {
            return groups.Count == 0 ? [] : [groups];
        }

        return groups.GroupBy(g => slotOf(interactions[g[0]].UserId)).Select(b => b.ToList());
    }

    /// <summary>
    /// Consecutive chunks of at most <paramref name="size"/> events; a larger group is split into consecutive
    /// pieces (applied in order, since pipelined calls on one connection run in order).
    /// </summary>
    public static IEnumerable<List<List<int>>> Chunks(List<List<int>> bucket, int size)
    {
        var chunk = new List<List<int>>();
        int events = 0;
        foreach (var group in bucket)
        {
            for (int start = 0; start < group.Count; start += size)
            {
                var piece = start == 0 && group.Count <= size ? group : group.GetRange(start, Math.Min(size, group.Count - start));
                if (events + piece.Count > size && chunk.Count > 0)
                {
                    yield return chunk;
                    chunk = [];
                    events = 0;
                }

                chunk.Add(piece);
                events += piece.Count;
            }
        }

        if (chunk.Count > 0)
        {
            yield return chunk;
        }
    }
}

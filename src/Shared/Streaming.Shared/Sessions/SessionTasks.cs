using Streaming.Shared.Data;

namespace Streaming.Shared.Sessions;

/// <summary>
/// Sessions as meta-learning tasks. Task user ids are 1..N in session order (the learning core numbers users);
/// <see cref="UserIds"/> maps them back to the session's user id.
/// </summary>
/// <param name="Tasks">One task per session with more than the query count of interactions.</param>
/// <param name="Profiles">Each task user's profile, by task user id.</param>
/// <param name="UserIds">The session user id of task user id i at index i - 1.</param>
public sealed record SessionTaskSet(IReadOnlyList<UserTask> Tasks, IReadOnlyDictionary<int, UserProfile> Profiles, IReadOnlyList<string> UserIds)
{
    /// <summary>The session user id of a task.</summary>
    public string UserIdOf(UserTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return UserIds[task.UserId - 1];
    }
}

/// <summary>Turns stored sessions into MeLU tasks.</summary>
public static class SessionTasks
{
    /// <summary>
    /// One task per session: its interactions in chronological order (the store keeps them newest first), one per
    /// item (a re-rated item counts once, with its latest rating, so no item is both support and query), split as
    /// the MeLU protocol splits a user (the last <paramref name="queryCount"/> are the query set) but without the
    /// protocol's shuffle: the query is what the user did last, predicted from what they did before, which is the
    /// serving situation. Sessions with at most <paramref name="queryCount"/> interactions are left out (their id
    /// is still reserved).
    /// </summary>
    public static SessionTaskSet Build(IReadOnlyList<StoredSession> sessions, int queryCount = 10)
    {
        ArgumentNullException.ThrowIfNull(sessions);
        ArgumentOutOfRangeException.ThrowIfLessThan(queryCount, 1);
        var tasks = new List<UserTask>(sessions.Count);
        var profiles = new Dictionary<int, UserProfile>(sessions.Count);
        var ids = new string[sessions.Count];
        for (int i = 0; i < sessions.Count; i++)
        {
            var session = sessions[i];
            int user = i + 1;
            ids[i] = session.UserId;
            profiles[user] = session.Profile;
            var seen = new HashSet<int>();
            var newestFirst = session.Recent.Where(r => seen.Add(r.ItemId)).ToList();
            if (newestFirst.Count <= queryCount)
            {
                continue;
            }

            var ratings = Enumerable.Reverse(newestFirst).Select(r => new Rating(user, r.ItemId, r.Rating)).ToArray();
            int support = ratings.Length - queryCount;
            tasks.Add(new UserTask(user, ratings[..support], ratings[support..]));
        }

        return new SessionTaskSet(tasks, profiles, ids);
    }
}

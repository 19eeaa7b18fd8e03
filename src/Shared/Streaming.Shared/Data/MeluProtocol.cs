namespace Streaming.Shared.Data;

/// <summary>Parameters of the MeLU evaluation protocol (Lee et al., KDD 2019).</summary>
/// <param name="MinRatings">Fewest ratings a user needs in a partition to be kept.</param>
/// <param name="MaxRatings">Most ratings a user may have in a partition to be kept.</param>
/// <param name="QueryCount">Ratings per user held out as the query set.</param>
/// <param name="LastExistingYear">Items released in this year or earlier are "existing"; later ones are "new".</param>
public sealed record ProtocolOptions(
    int MinRatings = 13,
    int MaxRatings = 100,
    int QueryCount = 10,
    int LastExistingYear = 1997)
{
    /// <summary>The paper's settings.</summary>
    public static ProtocolOptions Default { get; } = new();

    /// <summary>Throws when the settings leave no support set or no valid user.</summary>
    public void Validate()
    {
        if (QueryCount < 1 || MinRatings <= QueryCount || MaxRatings < MinRatings)
        {
            throw new ArgumentException(
                $"Protocol needs 1 <= QueryCount < MinRatings <= MaxRatings; got QueryCount={QueryCount}, MinRatings={MinRatings}, MaxRatings={MaxRatings}.");
        }
    }
}

/// <summary>A partition of user ids into disjoint, sorted train / validation / test lists.</summary>
public sealed record UserSplit(IReadOnlyList<int> Train, IReadOnlyList<int> Validation, IReadOnlyList<int> Test);

/// <summary>
/// The MeLU protocol: which items are existing or new, and how a user's ratings become a task
/// (keep users with 13..100 ratings, shuffle with a fixed seed, the last 10 are the query set).
/// </summary>
public static class MeluProtocol
{
    /// <summary>True when the item was released in or before <see cref="ProtocolOptions.LastExistingYear"/>; unknown year: false.</summary>
    public static bool IsExistingItem(ItemInfo item, ProtocolOptions options) =>
        item.Year is { } year && year <= options.LastExistingYear;

    /// <summary>True when the item was released after <see cref="ProtocolOptions.LastExistingYear"/>; unknown year: false.</summary>
    public static bool IsNewItem(ItemInfo item, ProtocolOptions options) =>
        item.Year is { } year && year > options.LastExistingYear;

    /// <summary>
    /// Builds one task per user of <paramref name="userIds"/> from their ratings (source order) on
    /// items of <see cref="RatingsDataset.Items"/> that pass <paramref name="itemFilter"/>. Users with
    /// fewer than MinRatings or more than MaxRatings such ratings are left out. Each user's list is
    /// shuffled with a seed derived from (<paramref name="seed"/>, user id), so a user's task does not
    /// depend on the other users asked for; the last QueryCount are the query set, and the rest, the support set,
    /// is put back in source order (the interaction order). Ordered by user id.
    /// </summary>
    public static IReadOnlyList<UserTask> BuildTasks(
        RatingsDataset data,
        IEnumerable<int> userIds,
        Func<ItemInfo, bool> itemFilter,
        int seed,
        ProtocolOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(userIds);
        ArgumentNullException.ThrowIfNull(itemFilter);
        options ??= ProtocolOptions.Default;
        options.Validate();

        // Decide each item once rather than once per rating (800k ratings, ~4k items).
        var allowed = new HashSet<int>();
        foreach (var (id, item) in data.Items)
        {
            if (itemFilter(item))
            {
                allowed.Add(id);
            }
        }

        var byUser = new Dictionary<int, List<Rating>>();
        foreach (var id in userIds)
        {
            byUser.TryAdd(id, []);
        }

        var ratings = data.Ratings;
        for (var i = 0; i < ratings.Count; i++)
        {
            var r = ratings[i];
            if (allowed.Contains(r.ItemId) && byUser.TryGetValue(r.UserId, out var list))
            {
                list.Add(r);
            }
        }

        var tasks = new List<UserTask>();
        foreach (var userId in byUser.Keys.Order())
        {
            var list = byUser[userId];
            if (list.Count < options.MinRatings || list.Count > options.MaxRatings)
            {
                continue;
            }

            // Shuffle positions rather than ratings: the same permutation (so the same support / query membership as
            // shuffling the ratings), but the support set can then be put back in the user's interaction order (the
            // source order: this MovieLens copy has no timestamps), which sequential networks read as the history.
            // Order-free networks (a mean loss over positions) are unaffected.
            var positions = Enumerable.Range(0, list.Count).ToArray();
            Shuffle(positions, new Random(UserSeed(seed, userId)));
            var supportCount = positions.Length - options.QueryCount;
            var support = positions[..supportCount];
            Array.Sort(support);
            tasks.Add(new UserTask(userId, [.. support.Select(i => list[i])], [.. positions[supportCount..].Select(i => list[i])]));
        }

        return tasks;
    }

    /// <summary>Warm state (meta-training data): the users' ratings on existing items.</summary>
    public static IReadOnlyList<UserTask> WarmStateTasks(
        RatingsDataset data, IEnumerable<int> userIds, int seed, ProtocolOptions? options = null)
    {
        var o = options ?? ProtocolOptions.Default;
        return BuildTasks(data, userIds, item => IsExistingItem(item, o), seed, o);
    }

    /// <summary>
    /// Every rating of <paramref name="userIds"/> on existing items, whatever the user's count (the warm state without
    /// the 13..100 filter, which decides who becomes a task, not what the users did): what the closed-form item-item
    /// layers and the list baselines learn from. On MovieLens-1M's training users it is 5 times the tasks' ratings.
    /// Source order.
    /// </summary>
    public static IReadOnlyList<Rating> WarmStateRatings(RatingsDataset data, IEnumerable<int> userIds, ProtocolOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(userIds);
        var o = options ?? ProtocolOptions.Default;
        var users = userIds.ToHashSet();
        // Decide each item once rather than once per rating, as BuildTasks does.
        var existing = data.Items.Values.Where(item => IsExistingItem(item, o)).Select(item => item.ItemId).ToHashSet();
        return [.. data.Ratings.Where(r => users.Contains(r.UserId) && existing.Contains(r.ItemId))];
    }

    /// <summary>The "existing items" partition (for new users): ratings on items released up to LastExistingYear.</summary>
    public static IReadOnlyList<UserTask> ExistingItemsTasks(
        RatingsDataset data, IEnumerable<int> userIds, int seed, ProtocolOptions? options = null) =>
        WarmStateTasks(data, userIds, seed, options);

    /// <summary>The "new items" partition: ratings on items released after LastExistingYear.</summary>
    public static IReadOnlyList<UserTask> NewItemsTasks(
        RatingsDataset data, IEnumerable<int> userIds, int seed, ProtocolOptions? options = null)
    {
        var o = options ?? ProtocolOptions.Default;
        return BuildTasks(data, userIds, item => IsNewItem(item, o), seed, o);
    }

    /// <summary>
    /// Splits distinct user ids at random (fixed seed) into disjoint train / validation / test
    /// lists, each sorted. Sizes are the fractions of the total, rounded.
    /// </summary>
    public static UserSplit SplitUsers(IEnumerable<int> userIds, double validationFraction, double testFraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(userIds);
        if (validationFraction is < 0 or > 1 || testFraction is < 0 or > 1 || validationFraction + testFraction > 1)
        {
            throw new ArgumentException(
                $"Fractions must lie in 0..1 and sum to at most 1; got validation={validationFraction}, test={testFraction}.");
        }

        // Sort first so the split depends on the set of ids, not on the order they came in.
        var ids = userIds.Distinct().Order().ToArray();
        Shuffle(ids, new Random(seed));
        var testCount = (int)Math.Round(ids.Length * testFraction);
        var validationCount = Math.Min((int)Math.Round(ids.Length * validationFraction), ids.Length - testCount);
        var test = ids[..testCount];
        var validation = ids[testCount..(testCount + validationCount)];
        var train = ids[(testCount + validationCount)..];
        Array.Sort(test);
        Array.Sort(validation);
        Array.Sort(train);
        return new UserSplit(train, validation, test);
    }

    /// <summary>Fisher-Yates shuffle in place.</summary>
    internal static void Shuffle<T>(T[] values, Random random)
    {
        for (var i = values.Length - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (values[i], values[j]) = (values[j], values[i]);
        }
    }

    /// <summary>
    /// A new random support/query split of each task (seeded per user): <paramref name="queryCount"/> of its ratings
    /// drawn at random are the query: how training draws fresh tasks from the same users every epoch. The task's
    /// ratings (support, then query) are taken as its interaction order, and both sets keep it, as
    /// <see cref="BuildTasks"/> keeps the support set's: a sequential network reads them in that order.
    /// </summary>
    public static IReadOnlyList<UserTask> Resplit(IReadOnlyList<UserTask> tasks, int queryCount, int seed)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        var result = new UserTask[tasks.Count];
        for (int i = 0; i < tasks.Count; i++)
        {
            var task = tasks[i];
            var all = task.Support.Concat(task.Query).ToArray();
            var positions = Enumerable.Range(0, all.Length).ToArray();
            Shuffle(positions, new Random(UserSeed(seed, task.UserId)));
            int query = Math.Clamp(queryCount, 1, Math.Max(1, all.Length - 1));
            var isQuery = new bool[all.Length];
            foreach (int p in positions[^query..])
            {
                isQuery[p] = true;
            }

            result[i] = new UserTask(task.UserId, [.. all.Where((_, p) => !isQuery[p])], [.. all.Where((_, p) => isQuery[p])]);
        }

        return result;
    }

    /// <summary>The per-user shuffle seed (<see cref="StableHash.Seed"/>).</summary>
    public static int UserSeed(int seed, int userId) => StableHash.Seed(seed, userId);
}

using Streaming.Shared.Data;
using static TorchSharp.torch;

namespace Streaming.Learning.Inputs;

/// <summary>
/// Several users' support and query sets as padded, masked tensors, so that the inner loop adapts all of
/// them at once. Padding positions point at item row 0 with mask 0 and never contribute to a loss.
/// </summary>
public sealed class TaskBatch : IDisposable
{
    private TaskBatch(IReadOnlyList<UserTask> tasks, Tensor profile, Tensor supportRows, Tensor supportRatings, Tensor supportMask, Tensor queryRows, Tensor queryRatings, Tensor queryMask)
    {
        Tasks = tasks;
        Profile = profile;
        SupportRows = supportRows;
        SupportRatings = supportRatings;
        SupportMask = supportMask;
        QueryRows = queryRows;
        QueryRatings = queryRatings;
        QueryMask = queryMask;
    }

    /// <summary>The tasks, in row order.</summary>
    public IReadOnlyList<UserTask> Tasks { get; }

    public int Count => Tasks.Count;

    /// <summary>[users, 4] profile indices (gender, age, occupation, zip).</summary>
    public Tensor Profile { get; }

    /// <summary>[users, max support] item rows of the catalogue table, in the task's order (the interaction order).</summary>
    public Tensor SupportRows { get; }

    public Tensor SupportRatings { get; }

    public Tensor SupportMask { get; }

    /// <summary>[users, max query] item rows of the catalogue table.</summary>
    public Tensor QueryRows { get; }

    public Tensor QueryRatings { get; }

    public Tensor QueryMask { get; }

    /// <summary>What a network may read about the users: the profile, and the support set (with its ratings) as the ordered history.</summary>
    public UserInputs Users => new(Profile, SupportRows, SupportMask, SupportRatings);

    /// <summary>The support ratings as inner-loss targets.</summary>
    public SupportTargets SupportTargets => new(SupportRatings, SupportMask);

    /// <summary>The query ratings as targets (the outer loss).</summary>
    public SupportTargets QueryTargets => new(QueryRatings, QueryMask);

    /// <summary>
    /// Builds a batch. Ratings of items that the table does not hold are left out; users without a profile get
    /// the unknown profile.
    /// </summary>
    public static TaskBatch Create(IReadOnlyList<UserTask> tasks, ItemFeatureTable items, FeatureSpace features, IReadOnlyDictionary<int, UserProfile> profiles, Device device)
    {
        ArgumentNullException.ThrowIfNull(profiles);
        return Create(tasks, items, features, (task, _) => profiles.GetValueOrDefault(task.UserId) ?? UserProfile.Unknown, device);
    }

    /// <summary>Builds a batch, taking each task's profile from <paramref name="profileOf"/> (task, row).</summary>
    public static TaskBatch Create(IReadOnlyList<UserTask> tasks, ItemFeatureTable items, FeatureSpace features, Func<UserTask, int, UserProfile> profileOf, Device device)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(profileOf);
        int b = tasks.Count;
        var profile = new long[b * 4];
        for (int u = 0; u < b; u++)
        {
            features.EncodeUser(profileOf(tasks[u], u)).CopyTo(profile, u * 4);
        }

        var (sRows, sRatings, sMask) = Pad(tasks, t => t.Support, items, device);
        var (qRows, qRatings, qMask) = Pad(tasks, t => t.Query, items, device);
        return new TaskBatch(tasks, tensor(profile, device: device).reshape(b, 4), sRows, sRatings, sMask, qRows, qRatings, qMask);
    }

    /// <summary>Batches of at most <paramref name="size"/> tasks each (for evaluation, where order does not matter).</summary>
    public static List<TaskBatch> CreateMany(IReadOnlyList<UserTask> tasks, int size, ItemFeatureTable items, FeatureSpace features, IReadOnlyDictionary<int, UserProfile> profiles, Device device)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        return tasks.Chunk(size).Select(chunk => Create(chunk, items, features, profiles, device)).ToList();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in new[] { Profile, SupportRows, SupportRatings, SupportMask, QueryRows, QueryRatings, QueryMask })
        {
            t.Dispose();
        }
    }

    private static (Tensor Rows, Tensor Ratings, Tensor Mask) Pad(IReadOnlyList<UserTask> tasks, Func<UserTask, IReadOnlyList<Rating>> select, ItemFeatureTable items, Device device)
    {
        int b = tasks.Count;
        int width = Math.Max(1, tasks.Max(t => select(t).Count));
        var rows = new long[b * width];
        var ratings = new float[b * width];
        var mask = new float[b * width];
        for (int u = 0; u < b; u++)
        {
            int n = 0;
            foreach (var r in select(tasks[u]))
            {
                if (items.TryGetRow(r.ItemId, out int row))
                {
                    rows[u * width + n] = row;
                    ratings[u * width + n] = r.Value;
                    mask[u * width + n] = 1f;
                    n++;
                }
            }
        }

        return (tensor(rows, device: device).reshape(b, width),
                tensor(ratings, device: device).reshape(b, width),
                tensor(mask, device: device).reshape(b, width));
    }
}

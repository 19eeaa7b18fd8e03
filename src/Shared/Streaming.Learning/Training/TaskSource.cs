using Streaming.Shared.Data;

namespace Streaming.Learning.Training;

/// <summary>
/// Where a training run's tasks come from: the training and validation users' tasks, the catalogue and the
/// profiles, and how each epoch draws fresh tasks from the same users. <see cref="ProtocolTasks"/> reads a data
/// folder through the MeLU protocol; <see cref="SampledSessionTasks"/> takes tasks as they come (sampled live sessions).
/// </summary>
public abstract class TaskSource
{
    /// <summary>The training tasks of the first epoch.</summary>
    public abstract IReadOnlyList<UserTask> Train { get; }

    /// <summary>Validation tasks (early stopping and the best checkpoint); never trained on.</summary>
    public abstract IReadOnlyList<UserTask> Validation { get; }

    /// <summary>Every item's side features; ratings of other items are left out.</summary>
    public abstract IReadOnlyDictionary<int, ItemInfo> Catalogue { get; }

    /// <summary>Profiles by user id (missing: the unknown profile).</summary>
    public abstract IReadOnlyDictionary<int, UserProfile> Profiles { get; }

    /// <summary>
    /// Every interaction of the training users that a closed-form part may learn from (<see cref="Networks.TrainingDataFit"/>):
    /// by default the training tasks' ratings; a data folder's are all its training users' existing-item ratings.
    /// </summary>
    public virtual IReadOnlyList<Rating> Interactions => [.. Train.SelectMany(t => t.Support.Concat(t.Query))];

    /// <summary>Fresh tasks of the training users for <paramref name="epoch"/> (2, 3, ...), seeded.</summary>
    public abstract IReadOnlyList<UserTask> Resample(int epoch, int seed);

    /// <summary>What the manifest's training record says about the data (source, fingerprint, split).</summary>
    public abstract TrainingRecord Describe();
}

/// <summary>
/// A data folder's warm state (existing users x existing items, 13..100 ratings) split by the MeLU protocol into
/// training, validation and held-out test users (<c>shared/datasets/ml-1m/README.md</c>); the test users are never
/// seen, and <c>eval</c> finds them again from the split recorded in the model.
/// </summary>
public sealed class ProtocolTasks : TaskSource
{
    private readonly ProtocolOptions protocol;
    private readonly TrainingRecord record;

    private ProtocolTasks(RatingsDataset data, ProtocolOptions protocol, IReadOnlyList<UserTask> train, IReadOnlyList<UserTask> validation, IReadOnlyList<Rating> interactions, TrainingRecord record)
    {
        Data = data;
        this.protocol = protocol;
        this.record = record;
        Train = train;
        Validation = validation;
        Interactions = interactions;
    }

    /// <summary>Splits <paramref name="data"/>'s users and builds their warm-state tasks.</summary>
    /// <param name="data">The data set.</param>
    /// <param name="split">Fractions and seed of the user split.</param>
    /// <param name="seed">Seeds the protocol's per-user shuffles.</param>
    /// <exception cref="InvalidOperationException">No warm-state user in the training or validation split.</exception>
    public static ProtocolTasks FromDataset(RatingsDataset data, DataSplit split, int seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(split);
        var users = MeluProtocol.SplitUsers(data.Ratings.Select(r => r.UserId).Distinct(), split.ValidationFraction, split.TestFraction, split.Seed);
        IEnumerable<int> trainUsers = users.Train;
        if (split.MaxTrainUsers is int max)
        {
            trainUsers = trainUsers.Take(max);
        }

        var train = MeluProtocol.WarmStateTasks(data, trainUsers, seed, split.Protocol);
        var validation = MeluProtocol.WarmStateTasks(data, users.Validation, seed, split.Protocol);
        if (train.Count == 0 || validation.Count == 0)
        {
            throw new InvalidOperationException($"{data.Source}: no warm-state users with {split.Protocol.MinRatings}..{split.Protocol.MaxRatings} ratings in the training or validation split");
        }

        var record = new TrainingRecord
        {
            Data = data.Source,
            DataFingerprint = RatingsFingerprint.Of(data),
            SplitSeed = split.Seed,
            ValidationFraction = split.ValidationFraction,
            TestFraction = split.TestFraction,
            TestUsers = users.Test.Count,
        };
        return new ProtocolTasks(data, split.Protocol, train, validation, MeluProtocol.WarmStateRatings(data, trainUsers, split.Protocol), record);
    }

    /// <summary>The data set the tasks come from.</summary>
    public RatingsDataset Data { get; }

    /// <inheritdoc />
    public override IReadOnlyList<UserTask> Train { get; }

    /// <inheritdoc />
    public override IReadOnlyList<UserTask> Validation { get; }

    /// <inheritdoc />
    public override IReadOnlyList<Rating> Interactions { get; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<int, ItemInfo> Catalogue => Data.Items;

    /// <inheritdoc />
    public override IReadOnlyDictionary<int, UserProfile> Profiles => Data.Users;

    /// <inheritdoc />
    public override IReadOnlyList<UserTask> Resample(int epoch, int seed) =>
        MeluProtocol.WarmStateTasks(Data, Train.Select(t => t.UserId), unchecked((seed * 1_000_003) + epoch), protocol);

    /// <inheritdoc />
    public override TrainingRecord Describe() => record;
}

/// <summary>
/// Tasks as they arrive (sampled sessions rather than a data folder): each epoch after the first re-splits every
/// training user's ratings with <see cref="MeluProtocol.Resplit"/>.
/// </summary>
/// <param name="train">Training tasks (their support and query sets are one user's ratings).</param>
/// <param name="validation">Validation tasks.</param>
/// <param name="catalogue">Every item's side features.</param>
/// <param name="profiles">Profiles by user id.</param>
/// <param name="queryCount">Query-set size of the resampled splits.</param>
/// <param name="record">What the manifest says about the data beyond its fingerprint (a description, the split's fractions, held-out users).</param>
public sealed class SampledSessionTasks(
    IReadOnlyList<UserTask> train,
    IReadOnlyList<UserTask> validation,
    IReadOnlyDictionary<int, ItemInfo> catalogue,
    IReadOnlyDictionary<int, UserProfile> profiles,
    int queryCount,
    TrainingRecord record) : TaskSource
{
    /// <inheritdoc />
    public override IReadOnlyList<UserTask> Train { get; } = train;

    /// <inheritdoc />
    public override IReadOnlyList<UserTask> Validation { get; } = validation;

    /// <inheritdoc />
    public override IReadOnlyDictionary<int, ItemInfo> Catalogue { get; } = catalogue;

    /// <inheritdoc />
    public override IReadOnlyDictionary<int, UserProfile> Profiles { get; } = profiles;

    /// <inheritdoc />
    public override IReadOnlyList<UserTask> Resample(int epoch, int seed) =>
        MeluProtocol.Resplit(Train, queryCount, unchecked((seed * 1_000_003) + epoch));

    /// <inheritdoc />
    public override TrainingRecord Describe() =>
        record with { DataFingerprint = RatingsFingerprint.Of(Train.Concat(Validation).SelectMany(t => t.Support.Concat(t.Query))) };
}

/// <summary>How a data folder's users are split: fractions held out for validation and test, the seed, and the protocol.</summary>
public sealed record DataSplit
{
    /// <summary>Share of users held out for early stopping.</summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>Share of users held out, never seen in training, for <c>eval</c>.</summary>
    public double TestFraction { get; init; } = 0.15;

    /// <summary>Seeds the train / validation / test split of the data set's users.</summary>
    public int Seed { get; init; } = 2019;

    /// <summary>Use at most this many training users (quick runs and tests); null for all.</summary>
    public int? MaxTrainUsers { get; init; }

    public ProtocolOptions Protocol { get; init; } = new();
}

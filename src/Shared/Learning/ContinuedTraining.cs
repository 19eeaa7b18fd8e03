using System.Buffers.Binary;
using System.Security.Cryptography;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace Streaming.Shared.Learning;

/// <summary>Settings of <see cref="ContinuedTraining.Run"/>.</summary>
public sealed record ContinuedTrainingOptions
{
    /// <summary>The model's shape and inner loop when training from scratch; a warm start keeps the initial model's.</summary>
    public Hyperparameters Hyperparameters { get; init; } = new();

    public int Epochs { get; init; } = 10;

    /// <summary>Epochs without a better validation MAE before training stops.</summary>
    public int Patience { get; init; } = 3;

    /// <summary>Seeds initialisation (from scratch), batch order and the per-epoch task splits.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>
    /// Adam's learning rate; null uses the model's own (<see cref="Hyperparameters.MetaLearningRate"/>). A warm
    /// start may want a smaller one: it refines a trained model rather than learning one.
    /// </summary>
    public float? MetaLearningRate { get; init; }

    /// <summary>Treat the inner gradients as constants (first-order) even for MetaSGD / LSLR.</summary>
    public bool FirstOrder { get; init; }

    /// <summary>Draw a new support/query split of every training user each epoch after the first (see <see cref="TrainingOptions.ResampleTasks"/>).</summary>
    public bool ResampleTasks { get; init; } = true;

    /// <summary>Query-set size of the resampled splits.</summary>
    public int QueryCount { get; init; } = 10;

    /// <summary>From scratch only: directors, actors and zip regions rarer than this map to "unknown".</summary>
    public int MinTokenCount { get; init; } = 2;

    /// <summary>MAML++ (LSLR): epochs over which the multi-step loss anneals, from scratch; a warm start starts annealed.</summary>
    public int MultiStepAnnealEpochs { get; init; } = 10;

    /// <summary>
    /// Wall-clock budget of the training loop: an epoch is not started when the longest epoch so far would end
    /// past it (the first epoch always runs), and the best model so far is returned. Null: no budget.
    /// </summary>
    public TimeSpan? TimeBudget { get; init; }

    /// <summary>Training users whose ratings score the evidence candidates.</summary>
    public int EvidenceUsers { get; init; } = 2000;

    /// <summary>
    /// What the manifest's training record says beyond what training knows (the data's description, the split's
    /// fractions, the number of held-out users); users, epochs, seed, fingerprint, time and device are filled in.
    /// </summary>
    public TrainingRecord Record { get; init; } = new();
}

/// <summary>The outcome of <see cref="ContinuedTraining.Run"/>.</summary>
/// <param name="Model">The best model by validation MAE (a new network; the initial model is not changed).</param>
/// <param name="History">Every trained epoch's figures.</param>
/// <param name="InitialValidation">The initial model's validation metrics before training (null from scratch).</param>
/// <param name="BudgetExhausted">Training stopped because the time budget was spent.</param>
/// <param name="Diverged">Why training stopped on a non-finite loss, or null. Without an earlier good epoch the model holds NaN weights.</param>
/// <param name="TasksPerSecond">Meta-training throughput (users per second, training steps only).</param>
public sealed record ContinuedTrainingResult(
    MetaModel Model,
    IReadOnlyList<EpochRecord> History,
    PartitionMetrics? InitialValidation,
    bool BudgetExhausted,
    string? Diverged,
    double TasksPerSecond);

/// <summary>
/// Meta-training on tasks that arrive as they are (sessions rather than a data folder): warm-started from an
/// existing model, whose vocabularies it keeps (tokens it never saw map to "unknown", so the result is
/// comparable with its parent and loadable wherever the parent was), or from scratch. The outer loop is
/// <see cref="MetaTraining.Run"/>'s (<see cref="EpochLoop"/>), with a time budget.
/// </summary>
public static class ContinuedTraining
{
    private const int EvaluationBatchSize = 256;

    /// <summary>Trains and returns the best model by validation MAE, with its evidence candidates.</summary>
    /// <param name="initial">The model to start from (not modified), or null to train from scratch.</param>
    /// <param name="train">Training tasks (their support and query sets are one user's ratings).</param>
    /// <param name="validation">Validation tasks (early stopping and the best checkpoint); never trained on.</param>
    /// <param name="catalogue">Every item's side features; ratings of other items are left out.</param>
    /// <param name="profiles">Profiles by task user id.</param>
    /// <param name="options">Epochs, budget, seeds.</param>
    /// <param name="device">Where to train.</param>
    /// <param name="time">Clock for the budget, timings and the manifest.</param>
    /// <param name="progress">Receives per-batch and per-epoch progress.</param>
    /// <param name="cancellationToken">Stops after the current batch; the best model so far is returned.</param>
    /// <exception cref="ArgumentException">No training or no validation task.</exception>
    public static ContinuedTrainingResult Run(
        MetaModel? initial,
        IReadOnlyList<UserTask> train,
        IReadOnlyList<UserTask> validation,
        IReadOnlyDictionary<int, ItemInfo> catalogue,
        IReadOnlyDictionary<int, UserProfile> profiles,
        ContinuedTrainingOptions options,
        Device device,
        TimeProvider time,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        ArgumentNullException.ThrowIfNull(catalogue);
        ArgumentNullException.ThrowIfNull(profiles);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        if (train.Count == 0 || validation.Count == 0)
        {
            throw new ArgumentException($"continued training needs training and validation tasks (got {train.Count} and {validation.Count})");
        }

        var started = time.GetTimestamp();
        manual_seed(options.Seed);
        var random = new Random(options.Seed);

        FeatureSpace features;
        MeluNetwork network;
        if (initial is not null)
        {
            features = initial.Features;
            network = new MeluNetwork(initial.Network.Hyper, initial.Network.VocabularySizes);
            MetaModel.ReadWeights(network, MetaModel.WriteWeights(initial.Network), "the initial model");
        }
        else
        {
            var trainItems = train.SelectMany(t => t.Support.Concat(t.Query)).Select(r => r.ItemId).Distinct().Where(catalogue.ContainsKey).Select(id => catalogue[id]);
            features = FeatureSpace.Build(trainItems, train.Select(t => profiles.GetValueOrDefault(t.UserId) ?? UserProfile.Unknown), options.MinTokenCount);
            float mean = (float)train.SelectMany(t => t.Support.Concat(t.Query)).Average(r => r.Value);
            network = new MeluNetwork(options.Hyperparameters with { RatingMean = mean }, features.Vocabularies.Select(v => v.Size).ToArray());
        }

        network.to(device);
        var hyper = network.Hyper;
        var table = features.EncodeItems(catalogue.Values.OrderBy(i => i.ItemId));
        using var items = new ItemFeatureTensors(table, device);
        using var learner = new MetaLearner(network, items, options.FirstOrder);
        if (options.MetaLearningRate is float rate)
        {
            learner.ScaleLearningRate(rate / hyper.MetaLearningRate);
        }

        var validationBatches = TaskBatch.CreateMany(validation, EvaluationBatchSize, table, features, profiles, device);
        PartitionMetrics? initialValidation = initial is null ? null : MetaTraining.Evaluate(learner, validationBatches, hyper.InnerSteps);
        int annealOffset = initial is null ? 0 : options.MultiStepAnnealEpochs;
        var loop = EpochLoop.Run(
            learner,
            network,
            new EpochLoopSettings(options.Epochs, options.Patience, PlateauDecay: 1.0, options.TimeBudget, started),
            epoch => options.ResampleTasks && epoch > 1 ? Resplit(train, options.QueryCount, unchecked((options.Seed * 1_000_003) + epoch)) : train,
            tasks => TaskBatch.Create(tasks, table, features, profiles, device),
            validationBatches,
            epoch => hyper.Algorithm == MetaAlgorithm.Lslr ? MetaTraining.MultiStepWeights(hyper.InnerSteps, epoch + annealOffset, options.MultiStepAnnealEpochs) : null,
            random,
            time,
            progress,
            onImproved: null,
            cancellationToken);

        validationBatches.ForEach(b => b.Dispose());
        if (loop.Best is not null)
        {
            MetaModel.ReadWeights(network, loop.Best, "checkpoint");
        }

        network.eval();
        var onboarding = loop.Best is null && loop.Diverged is not null
            ? initial?.Manifest.Onboarding
            : EvidenceCandidates.Compute(network, items, features, train.Take(options.EvidenceUsers).ToList(), profiles);
        var record = options.Record with
        {
            DataFingerprint = Fingerprint(train.Concat(validation)),
            Seed = options.Seed,
            TrainUsers = train.Count,
            ValidationUsers = validation.Count,
            Epochs = loop.History.Count,
            BestEpoch = loop.BestEpoch,
            Seconds = time.GetElapsedTime(started).TotalSeconds,
            Device = device.type.ToString().ToLowerInvariant(),
        };
        var model = MetaModel.Unsaved(network, features, record, loop.BestMetrics, time.GetUtcNow(), onboarding);
        return new ContinuedTrainingResult(model, loop.History, initialValidation, loop.BudgetExhausted, loop.Diverged, loop.TrainedTasks / Math.Max(1e-9, loop.TrainingSeconds));
    }

    /// <summary>
    /// The MeLU protocol's figures of <paramref name="model"/> on <paramref name="tasks"/>: adapt on each support set
    /// with the model's local steps, then MAE, RMSE and nDCG@3 on the query set (mean over users).
    /// </summary>
    public static PartitionMetrics Evaluate(MetaModel model, IReadOnlyList<UserTask> tasks, IReadOnlyDictionary<int, ItemInfo> catalogue, IReadOnlyDictionary<int, UserProfile> profiles)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(catalogue);
        if (tasks.Count == 0)
        {
            return new MetricAccumulator().Result();
        }

        var device = model.Network.parameters().First().device;
        var table = model.Features.EncodeItems(catalogue.Values.OrderBy(i => i.ItemId));
        using var items = new ItemFeatureTensors(table, device);
        using var learner = new MetaLearner(model.Network, items, firstOrder: true);
        var batches = TaskBatch.CreateMany(tasks, EvaluationBatchSize, table, model.Features, profiles, device);
        try
        {
            return MetaTraining.Evaluate(learner, batches, model.Network.Hyper.InnerSteps);
        }
        finally
        {
            batches.ForEach(b => b.Dispose());
        }
    }

    /// <summary>A new random support/query split of each task (seeded per user), the last <paramref name="queryCount"/> being the query.</summary>
    public static IReadOnlyList<UserTask> Resplit(IReadOnlyList<UserTask> tasks, int queryCount, int seed)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        var result = new UserTask[tasks.Count];
        for (int i = 0; i < tasks.Count; i++)
        {
            var task = tasks[i];
            var all = task.Support.Concat(task.Query).ToArray();
            MeluProtocol.Shuffle(all, new Random(HashCode32(seed, task.UserId)));
            int query = Math.Clamp(queryCount, 1, Math.Max(1, all.Length - 1));
            result[i] = new UserTask(task.UserId, all[..^query], all[^query..]);
        }

        return result;
    }

    /// <summary>Hex SHA-256 (first 16 characters) over every task's user, item and rating, in order.</summary>
    public static string Fingerprint(IEnumerable<UserTask> tasks)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> buffer = stackalloc byte[12];
        foreach (var r in tasks.SelectMany(t => t.Support.Concat(t.Query)))
        {
            BinaryPrimitives.WriteInt32LittleEndian(buffer, r.UserId);
            BinaryPrimitives.WriteInt32LittleEndian(buffer[4..], r.ItemId);
            BinaryPrimitives.WriteSingleLittleEndian(buffer[8..], r.Value);
            hash.AppendData(buffer);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }

    // SplitMix64 finaliser of (seed, user): stable across processes, unlike HashCode.Combine.
    private static int HashCode32(int seed, int userId)
    {
        ulong z = ((ulong)(uint)seed << 32 | (uint)userId) + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)((z ^ (z >> 31)) & 0x7FFFFFFF);
    }
}

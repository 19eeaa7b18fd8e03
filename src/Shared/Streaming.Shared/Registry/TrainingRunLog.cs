using System.Globalization;
using StackExchange.Redis;
using Streaming.Shared.Evaluation;

namespace Streaming.Shared.Registry;

/// <summary>The outcomes of a training run (also the <c>outcome</c> label of the MetaTrainer's run counter).</summary>
public static class TrainingRunOutcome
{
    /// <summary>The candidate passed the gate and was pushed as a new version.</summary>
    public const string Published = "published";

    /// <summary>The gate refused the candidate (or there was too little data to judge it); nothing was pushed.</summary>
    public const string Refused = "refused";

    /// <summary>The run could not complete (Redis, the registry, a corrupt parent, shutdown).</summary>
    public const string Failed = "failed";

    /// <summary>Not a training run: a decision of the automated canary (<see cref="TrainingRun.Decision"/> holds its figures).</summary>
    public const string CanaryDecision = "canary-decision";
}

/// <summary>
/// What one MetaTrainer run did, kept next to the registry for people and dashboards: when, on which sessions,
/// from which parent, the candidate's and the parent's figures on the same held-out users, and what became of
/// the candidate (published as which version and routed how, or refused and why).
/// </summary>
public sealed record TrainingRun
{
    /// <summary>Unique per run (time-ordered: the start time, then random digits).</summary>
    public required string RunId { get; init; }

    /// <summary>One of <see cref="TrainingRunOutcome"/>.</summary>
    public required string Outcome { get; init; }

    /// <summary>Why the candidate was refused or the run failed; null when published.</summary>
    public string? Reason { get; init; }

    public DateTimeOffset StartedAt { get; init; }

    public double Seconds { get; init; }

    /// <summary>The active version the candidate started from (null: trained from scratch).</summary>
    public string? ParentVersion { get; init; }

    /// <summary>The version the candidate was published as.</summary>
    public string? Version { get; init; }

    /// <summary>What the policy did with a published version: <c>active</c>, <c>canary 10%</c>, <c>none</c>, or why not.</summary>
    public string? Rollout { get; init; }

    /// <summary>Which sessions were sampled (source and time window).</summary>
    public string? Window { get; init; }

    /// <summary>Sessions read from the store.</summary>
    public long ScannedSessions { get; init; }

    /// <summary>Sessions in the window with enough interactions.</summary>
    public long EligibleSessions { get; init; }

    public int TrainingUsers { get; init; }

    public int ValidationUsers { get; init; }

    /// <summary>Held-out users both models were evaluated on (never trained on).</summary>
    public int EvaluationUsers { get; init; }

    /// <summary>The candidate on the held-out users (MeLU protocol: adapt on the support set, score the query set).</summary>
    public PartitionMetrics? Candidate { get; init; }

    /// <summary>The parent on the same users.</summary>
    public PartitionMetrics? Parent { get; init; }

    public int Epochs { get; init; }

    public int BestEpoch { get; init; }

    /// <summary>Training stopped because the run's time budget was spent.</summary>
    public bool BudgetExhausted { get; init; }

    public double TrainingSeconds { get; init; }

    public string? Device { get; init; }

    /// <summary>For <see cref="TrainingRunOutcome.CanaryDecision"/> records: the automated canary's decision and its figures.</summary>
    public Online.CanaryDecision? Decision { get; init; }
}

/// <summary>The most recent training runs of a registry, newest first.</summary>
public interface ITrainingRunLog
{
    /// <summary>Records a run; the oldest runs beyond <see cref="TrainingRunLog.MaxRuns"/> are dropped.</summary>
    Task AppendAsync(TrainingRun run, CancellationToken cancellationToken = default);

    /// <summary>The last <paramref name="count"/> runs, newest first.</summary>
    Task<IReadOnlyList<TrainingRun>> RecentAsync(int count, CancellationToken cancellationToken = default);
}

/// <summary>
/// Where a registry keeps its training runs: in Redis the list <c>{prefix}:runs</c> (LPUSH, then LTRIM), in a
/// directory registry the folder <c>runs/</c> (one JSON file per run, named by run id). Run records are
/// informational: versions and routing never depend on them.
/// </summary>
public static class TrainingRunLog
{
    /// <summary>Runs kept.</summary>
    public const int MaxRuns = 200;

    /// <summary>The run log stored with <paramref name="registry"/>; in process memory for other registry kinds.</summary>
    public static ITrainingRunLog For(IModelRegistry registry) => registry switch
    {
        RedisModelRegistry redis => new RedisRunLog(redis.Location.Redis, redis.Location.Prefix),
        FileSystemModelRegistry directory => new DirectoryRunLog(Path.Combine(directory.Root, "runs")),
        _ => new InMemoryTrainingRunLog(),
    };

    /// <summary>A new run id: the UTC start time (sortable) and 8 random hex digits.</summary>
    public static string NewRunId(DateTimeOffset startedAt) =>
        startedAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8];

    private sealed class RedisRunLog(IConnectionMultiplexer redis, string prefix) : ITrainingRunLog
    {
        private RedisKey Key => $"{prefix}:runs";

        public async Task AppendAsync(TrainingRun run, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(run);
            var transaction = redis.GetDatabase().CreateTransaction();
            _ = transaction.ListLeftPushAsync(Key, RegistryJson.Serialize(run));
            _ = transaction.ListTrimAsync(Key, 0, MaxRuns - 1);
            await transaction.ExecuteAsync().ConfigureAwait(false);
        }

        public async Task<IReadOnlyList<TrainingRun>> RecentAsync(int count, CancellationToken cancellationToken = default)
        {
            var values = await redis.GetDatabase().ListRangeAsync(Key, 0, Math.Max(0, count) - 1).ConfigureAwait(false);
            return count <= 0 ? [] : values.Select(v => RegistryJson.Deserialize<TrainingRun>((byte[])v!, $"{Key}")).ToList();
        }
    }

    private sealed class DirectoryRunLog(string directory) : ITrainingRunLog
    {
        public async Task AppendAsync(TrainingRun run, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(run);
            Directory.CreateDirectory(directory);
            string path = Path.Combine(directory, run.RunId + ".json");
            string temp = path + $".{Guid.NewGuid():N}.tmp";
            await File.WriteAllBytesAsync(temp, RegistryJson.Serialize(run), cancellationToken).ConfigureAwait(false);
            File.Move(temp, path, overwrite: true);
            foreach (string old in Files().Skip(MaxRuns))
            {
                File.Delete(old);
            }
        }

        public async Task<IReadOnlyList<TrainingRun>> RecentAsync(int count, CancellationToken cancellationToken = default)
        {
            var runs = new List<TrainingRun>();
            foreach (string path in Files().Take(Math.Max(0, count)))
            {
                runs.Add(RegistryJson.Deserialize<TrainingRun>(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false), path));
            }

            return runs;
        }

        // Run ids start with their UTC start time, so the reverse ordinal order is newest first.
        private List<string> Files() => Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory, "*.json").OrderDescending(StringComparer.Ordinal).ToList()
            : [];
    }
}

/// <summary>A run log in process memory (registries that are neither Redis nor a directory; tests).</summary>
public sealed class InMemoryTrainingRunLog : ITrainingRunLog
{
    private readonly List<TrainingRun> runs = [];

    public Task AppendAsync(TrainingRun run, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        lock (runs)
        {
            runs.Insert(0, run);
            if (runs.Count > TrainingRunLog.MaxRuns)
            {
                runs.RemoveAt(runs.Count - 1);
            }
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<TrainingRun>> RecentAsync(int count, CancellationToken cancellationToken = default)
    {
        lock (runs)
        {
            return Task.FromResult<IReadOnlyList<TrainingRun>>(runs.Take(Math.Max(0, count)).ToList());
        }
    }
}

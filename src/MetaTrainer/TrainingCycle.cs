using System.Globalization;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using Streaming.Learning;
using Streaming.Learning.Models;
using Streaming.Learning.Training;
using Streaming.Shared.Models;
using Streaming.Shared.Online;
using Streaming.Shared.Registry;
using Streaming.Shared.Sessions;
using static TorchSharp.torch;

namespace Streaming.MetaTrainer;

/// <summary>
/// One MetaTrainer run: sample users from the session store, split them by a stable hash of the user id into
/// training, validation and held-out evaluation users, warm-start from the active version (or start from
/// scratch when there is none), meta-train within the time budget, evaluate candidate and parent on the same
/// held-out users, let <see cref="CandidateGate"/> decide, push a passing candidate with its lineage and figures,
/// route it by <see cref="MetaTrainerOptions.Policy"/>, and record the run (registry run log, metrics, log).
/// One run at a time per instance; run a single trainer per registry (a CronJob with
/// <c>concurrencyPolicy: Forbid</c>, or one replica): two trainers would both publish.
/// </summary>
public sealed partial class TrainingCycle
{
    // Query-set size of the per-epoch re-splits of sampled sessions (the protocol's 10).
    private const int QueryCount = 10;

    private const string HoldOutSalt = "metatrainer:holdout";

    // Evaluation, evidence candidates and publishing take this share of the budget; training gets the rest.
    private const double PublishingReserve = 0.15;

    private readonly MetaTrainerOptions options;
    private readonly SessionScanner scanner;
    private readonly string sessionSource;
    private readonly Lazy<IReadOnlyDictionary<int, ItemInfo>> catalogue;
    private readonly Lazy<Device> device;
    private readonly TimeProvider time;
    private readonly ILogger<TrainingCycle> logger;
    private readonly Func<Task<IReadOnlyList<ArmTally>>>? tallies;

    /// <param name="options">The trainer's settings.</param>
    /// <param name="scanner">Reads the session store.</param>
    /// <param name="sessionSource">Names the session store in run records (<c>redis 127.0.0.1:6379, prefix s</c>).</param>
    /// <param name="time">Clock for the window, the budget and the records.</param>
    /// <param name="logger">Where each run's summary goes.</param>
    /// <param name="tallies">The live figures of the session store (policy auto judges the canary on them first).</param>
    public TrainingCycle(MetaTrainerOptions options, SessionScanner scanner, string sessionSource, TimeProvider time, ILogger<TrainingCycle> logger, Func<Task<IReadOnlyList<ArmTally>>>? tallies = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        this.tallies = tallies;
        this.scanner = scanner;
        this.sessionSource = sessionSource;
        this.time = time;
        this.logger = logger;
        catalogue = new(() => CatalogueSource.LoadItems(options.Catalogue));
        device = new(() => TorchDevice.Resolve(options.Device, "MetaTrainer:Device"));
    }

    /// <summary>The process exit code of <c>--once</c> for a run: 0 published, 3 refused by the gate, 1 failed.</summary>
    public static int ExitCode(TrainingRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return run.Outcome switch
        {
            TrainingRunOutcome.Published => 0,
            TrainingRunOutcome.Refused => 3,
            _ => 1,
        };
    }

    /// <summary>One line for people and CronJob logs.</summary>
    public static string Summary(TrainingRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var text = new System.Text.StringBuilder();
        text.Append(run.Outcome);
        if (run.Version is not null)
        {
            text.Append(' ').Append(run.Version);
        }

        text.Append(" (parent ").Append(run.ParentVersion ?? "none").Append(run.Rollout is null ? "" : ", rollout " + run.Rollout).Append(')');
        if (run.Reason is not null)
        {
            text.Append(": ").Append(run.Reason);
        }

        if (run.Candidate is { } c)
        {
            text.Append(CultureInfo.InvariantCulture, $"; held-out MAE {c.Mae:F4}");
            if (run.Parent is { } p)
            {
                text.Append(CultureInfo.InvariantCulture, $" (parent {p.Mae:F4})");
            }

            text.Append(CultureInfo.InvariantCulture, $", nDCG@3 {c.Ndcg3:F4}");
            if (run.Parent is { } q)
            {
                text.Append(CultureInfo.InvariantCulture, $" (parent {q.Ndcg3:F4})");
            }

            text.Append(CultureInfo.InvariantCulture, $" on {c.Users} users");
        }

        if (run.TrainingUsers > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"; {run.TrainingUsers} users trained, {run.Epochs} epochs (best {run.BestEpoch}){(run.BudgetExhausted ? ", time budget spent" : "")}");
        }

        return text.Append(CultureInfo.InvariantCulture, $"; {run.Seconds:F1} s").ToString();
    }

    /// <summary>Opens the configured registry, runs once and records the run in it. Never throws: a failure is a failed run.</summary>
    public async Task<TrainingRun> RunAsync(CancellationToken cancellationToken)
    {
        var started = time.GetUtcNow();
        IModelRegistry registry;
        try
        {
            registry = await ModelRegistryFactory.OpenAsync(options.Registry, create: true, time).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            var failed = new TrainingRun
            {
                RunId = TrainingRunLog.NewRunId(started),
                Outcome = TrainingRunOutcome.Failed,
                Reason = $"cannot open the registry: {e.Message}",
                StartedAt = started,
                Seconds = (time.GetUtcNow() - started).TotalSeconds,
            };
            Report(failed);
            return failed;
        }

        await using (registry.ConfigureAwait(false))
        {
            return await RunAsync(registry, TrainingRunLog.For(registry), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Runs once against <paramref name="registry"/> and records the run in <paramref name="runs"/>. Never throws: a failure is a failed run.</summary>
    public async Task<TrainingRun> RunAsync(IModelRegistry registry, ITrainingRunLog runs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(runs);
        var startedAt = time.GetUtcNow();
        var started = time.GetTimestamp();
        var run = new TrainingRun { RunId = TrainingRunLog.NewRunId(startedAt), Outcome = TrainingRunOutcome.Failed, StartedAt = startedAt };
        try
        {
            run = await TrainAndDecideAsync(registry, runs, run, started, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            run = run with { Outcome = TrainingRunOutcome.Failed, Reason = "cancelled: the trainer is shutting down" };
        }
        catch (Exception e)
        {
            LogFailure(e);
            run = run with { Outcome = TrainingRunOutcome.Failed, Reason = e.Message };
        }

        run = run with { Seconds = time.GetElapsedTime(started).TotalSeconds };
        try
        {
            await runs.AppendAsync(run, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or StackExchange.Redis.RedisException)
        {
            LogNotRecorded(run.RunId, registry.Description, e.Message);
        }

        Report(run);
        return run;
    }

    /// <summary>The held-out role of a user: a stable hash of the id, the same in every run and process.</summary>
    public static UserRole RoleOf(string userId, double evaluationFraction, double validationFraction)
    {
        int bucket = CanarySplit.Bucket(userId, HoldOutSalt);
        return bucket < evaluationFraction * CanarySplit.Buckets ? UserRole.Evaluation
            : bucket < (evaluationFraction + validationFraction) * CanarySplit.Buckets ? UserRole.Validation
            : UserRole.Training;
    }

    /// <summary>Policy auto: one look at the canary on the live figures (recorded in the run log); null when there is nothing to judge.</summary>
    public Task<CanaryDecision?> JudgeCanaryAsync(IModelRegistry registry, ITrainingRunLog runs, CancellationToken cancellationToken) =>
        options.Policy == RolloutPolicy.Auto && tallies is not null
            ? new AutoCanary(registry, tallies, runs, options.JudgeOptions, time).StepAsync(cancellationToken)
            : Task.FromResult<CanaryDecision?>(null);

    private async Task<TrainingRun> TrainAndDecideAsync(IModelRegistry registry, ITrainingRunLog runs, TrainingRun run, long started, CancellationToken cancellationToken)
    {
        // Judged before the parent is chosen: a canary promoted now is the parent of this run's candidate.
        var judged = await JudgeCanaryAsync(registry, runs, cancellationToken).ConfigureAwait(false);
        var routing = await registry.GetRoutingAsync(cancellationToken).ConfigureAwait(false);
        string? parentVersion = routing.Active;
        run = run with { ParentVersion = parentVersion };
        var items = catalogue.Value;

        var since = time.GetUtcNow().AddDays(-options.RecentDays);
        var sample = await scanner.SampleAsync(new SessionSampleOptions
        {
            MinInteractions = options.MinInteractions,
            MaxSessions = options.MaxTasks,
            NewestSince = since,
            KeepItem = items.ContainsKey,
            Seed = options.Seed,
        }, cancellationToken).ConfigureAwait(false);
        var tasks = SessionTasks.Build(sample.Sessions);
        var byRole = tasks.Tasks.ToLookup(t => RoleOf(tasks.UserIdOf(t), options.EvaluationFraction, options.ValidationFraction));
        var (train, validation, evaluation) = (byRole[UserRole.Training].ToList(), byRole[UserRole.Validation].ToList(), byRole[UserRole.Evaluation].ToList());
        string window = string.Create(CultureInfo.InvariantCulture,
            $"{sessionSource}: users with at least {options.MinInteractions} interactions on catalogue items, the newest at or after {since:yyyy-MM-dd'T'HH:mm:ss'Z'} ({options.RecentDays} days); {tasks.Tasks.Count} of {sample.Eligible} eligible users sampled (at most {options.MaxTasks}), {sample.Scanned} sessions scanned");
        run = run with
        {
            Window = window,
            ScannedSessions = sample.Scanned,
            EligibleSessions = sample.Eligible,
            TrainingUsers = train.Count,
            ValidationUsers = validation.Count,
            EvaluationUsers = evaluation.Count,
        };
        MetaTrainerMetrics.LastSampledUsers.Set(tasks.Tasks.Count);

        // Too little data to judge a candidate: say so before spending the training time.
        if (evaluation.Count < options.MinEvaluationUsers)
        {
            return run with { Outcome = TrainingRunOutcome.Refused, Reason = CandidateGate.TooFewUsers(evaluation.Count, options) };
        }

        if (train.Count == 0 || validation.Count == 0)
        {
            return run with { Outcome = TrainingRunOutcome.Refused, Reason = $"too few users to train on: {train.Count} training and {validation.Count} validation users" };
        }

        byte[]? parentFile = parentVersion is null ? null : await registry.DownloadAsync(parentVersion, cancellationToken).ConfigureAwait(false);
        var budget = TimeSpan.FromMinutes(options.TimeBudgetMinutes);
        var trainingBudget = (budget * (1 - PublishingReserve)) - time.GetElapsedTime(started);

        // Training is minutes of CPU-bound native work: on its own thread, not the thread pool's.
        var trained = await Task.Factory.StartNew(
            () => Train(parentFile, parentVersion, train, validation, evaluation, tasks.Profiles, window, trainingBudget, run.RunId, cancellationToken),
            cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();

        run = run with
        {
            Candidate = trained.Candidate,
            Parent = trained.Parent,
            Epochs = trained.Result.Epochs,
            BestEpoch = trained.Result.BestEpoch,
            BudgetExhausted = trained.BudgetExhausted,
            TrainingSeconds = trained.Result.Seconds,
            Device = trained.Result.Device,
        };
        var decision = CandidateGate.Decide(trained.File, trained.Candidate, trained.Parent, parentVersion, options);
        if (!decision.Passed)
        {
            return run with { Outcome = TrainingRunOutcome.Refused, Reason = trained.Diverged is { } d ? $"{decision.Reason} ({d})" : decision.Reason };
        }

        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["evaluation.users"] = trained.Candidate.Users,
            ["evaluation.mae"] = trained.Candidate.Mae,
            ["evaluation.rmse"] = trained.Candidate.Rmse,
            ["evaluation.ndcg3"] = trained.Candidate.Ndcg3,
            ["training.users"] = train.Count,
        };
        if (trained.Parent is { } parent)
        {
            metrics["parent.evaluation.mae"] = parent.Mae;
            metrics["parent.evaluation.rmse"] = parent.Rmse;
            metrics["parent.evaluation.ndcg3"] = parent.Ndcg3;
        }

        var (pushed, rolledOut) = await registry.PushAndRollOutAsync(trained.File, new ModelPushOptions
        {
            ParentVersion = parentVersion,
            Metrics = metrics,
            Notes = window,
            Source = $"metatrainer run {run.RunId}",
        }, Plan(parentVersion, judging: judged is { Action: CanaryAction.Wait }), cancellationToken: cancellationToken).ConfigureAwait(false);
        string rollout = judged is { Action: CanaryAction.Wait } waiting
            ? $"none: canary {waiting.Canary} is still being judged on the live figures"
            : Describe(rolledOut, parentVersion);
        return run with { Outcome = TrainingRunOutcome.Published, Version = pushed.Version, Rollout = rollout };
    }

    private Trained Train(
        byte[]? parentFile,
        string? parentVersion,
        List<UserTask> train,
        List<UserTask> validation,
        List<UserTask> evaluation,
        IReadOnlyDictionary<int, UserProfile> profiles,
        string window,
        TimeSpan trainingBudget,
        string runId,
        CancellationToken cancellationToken)
    {
        var items = catalogue.Value;
        using var parent = parentFile is null ? null : MetaModel.Load(parentFile, $"parent {parentVersion}", device.Value);
        var trainingOptions = new TrainingOptions
        {
            Epochs = options.Epochs,
            Patience = options.Patience,
            Seed = options.Seed,
            MetaLearningRate = parent is not null && options.WarmStartLearningRate > 0 ? (float)options.WarmStartLearningRate : null,
            TimeBudget = trainingBudget > TimeSpan.Zero ? trainingBudget : TimeSpan.Zero,
        };
        var record = new TrainingRecord
        {
            Data = window,
            ValidationFraction = options.ValidationFraction,
            TestFraction = options.EvaluationFraction,
            TestUsers = evaluation.Count,
        };
        var tasks = new SampledSessionTasks(train, validation, items, profiles, QueryCount, record);
        var result = MetaTraining.Run(tasks, trainingOptions, parent, device.Value, time, cancellationToken: cancellationToken);
        using var candidate = result.Model;
        var candidateMetrics = MetaTraining.Evaluate(candidate, evaluation, items, profiles);
        var parentMetrics = parent is null ? null : MetaTraining.Evaluate(parent, evaluation, items, profiles);
        return new Trained(candidate.ToBytes(), candidateMetrics, parentMetrics, result.BudgetExhausted, result.Diverged, candidate.Manifest.Training);
    }

    // Compare-and-set against the parent: if someone else changed the active version during the run, the
    // candidate is published but not routed, since it was judged against a version that no longer serves.
    // Policy auto does not replace a canary that is still being judged (judging): its figures would start over.
    private RolloutPlan Plan(string? parent, bool judging = false) => new()
    {
        Kind = options.Policy == RolloutPolicy.PublishOnly || judging ? RolloutKind.None
            : options.Policy == RolloutPolicy.Promote || parent is null ? RolloutKind.Promote
            : RolloutKind.Canary,
        CanaryPercent = options.CanaryPercent,
        ExpectedActive = new ExpectedActive(parent),
    };

    private string Describe(RolloutResult result, string? parent) =>
        options.Policy == RolloutPolicy.PublishOnly ? "none (policy publish-only)"
        : result.Conflict is { } changed ? $"none: the active version changed from {parent ?? "none"} to {changed} during the run"
        : Plan(parent).Kind == RolloutKind.Promote ? "active"
        : string.Create(CultureInfo.InvariantCulture, $"canary {options.CanaryPercent:0.##}%");

    private void Report(TrainingRun run)
    {
        MetaTrainerMetrics.Runs.WithLabels(run.Outcome).Inc();
        MetaTrainerMetrics.LastRunSeconds.Set(run.Seconds);
        MetaTrainerMetrics.LastRunTimestamp.Set(time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0);
        MetaTrainerMetrics.LastCandidateMae.Set(run.Candidate?.Mae ?? double.NaN);
        MetaTrainerMetrics.LastCandidateNdcg.Set(run.Candidate?.Ndcg3 ?? double.NaN);
        MetaTrainerMetrics.LastParentMae.Set(run.Parent?.Mae ?? double.NaN);
        MetaTrainerMetrics.LastParentNdcg.Set(run.Parent?.Ndcg3 ?? double.NaN);
        if (run.Outcome == TrainingRunOutcome.Failed)
        {
            LogFailed(run.RunId, Summary(run));
        }
        else
        {
            LogRun(run.RunId, Summary(run));
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Training run {RunId}: {Summary}")]
    private partial void LogRun(string runId, string summary);

    [LoggerMessage(Level = LogLevel.Error, Message = "Training run {RunId}: {Summary}")]
    private partial void LogFailed(string runId, string summary);

    [LoggerMessage(Level = LogLevel.Error, Message = "Training run failed")]
    private partial void LogFailure(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Training run {RunId} could not be recorded in {Registry}: {Reason}")]
    private partial void LogNotRecorded(string runId, string registry, string reason);

    private sealed record Trained(byte[] File, PartitionMetrics Candidate, PartitionMetrics? Parent, bool BudgetExhausted, string? Diverged, TrainingRecord Result);
}

/// <summary>What a sampled user is used for in a run.</summary>
public enum UserRole
{
    Training,
    Validation,
    Evaluation,
}

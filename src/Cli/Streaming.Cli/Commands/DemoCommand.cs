using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Streaming.Local;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using Streaming.Shared.Evaluation.TopN;
using Streaming.Learning;
using Streaming.Learning.Methods;
using Streaming.Learning.Models;
using Streaming.Learning.Serving;
using Streaming.Learning.Training;
using Streaming.Shared.Models;
using Streaming.Shared.Online;
using Streaming.Shared.Registry;

namespace Streaming.Cli.Commands;

/// <summary>
/// <c>streaming demo</c>: the whole pipeline on one machine with no setup: librdkafka's mock cluster as the
/// broker, a private redis-server (in-memory sessions where none can be had), a meta-model trained on the fly
/// (or <c>--model</c>), Ingest and Adapter running with their production registrations, and a replay of
/// brand-new users. Live progress, then a report: events, users adapted, latency percentiles, and the quality
/// of the recommendations the pipeline produced against the same model without adaptation.
/// </summary>
internal static class DemoCommand
{
    private const int TopK = 20;

    public static Command Create()
    {
        var data = CommonOptions.Data(required: false);
        var model = new Option<string?>("--model") { Description = "Serve this meta-model file instead of training one on the fly." };
        var users = new Option<int>("--users") { Description = "New users to replay (held-out users, cycled).", DefaultValueFactory = _ => 400 };
        var rate = new Option<double>("--rate") { Description = "New users arriving per second.", DefaultValueFactory = _ => 40 };
        var epochs = new Option<int>("--epochs") { Description = "Meta-training epochs when training on the fly.", DefaultValueFactory = _ => TrainingRecipe.Default.Epochs };
        var canary = new Option<double>("--canary-percent") { Description = "Share of users served the canary: the same model without adaptation (online evaluation compares the two).", DefaultValueFactory = _ => 30 };
        var seed = CommonOptions.Seed();
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var command = new Command("demo", "Run the whole pipeline on embedded defaults (mock Kafka, private Redis, services in-process) and replay new users.")
        {
            data, model, users, rate, epochs, canary, seed, device, json,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(
            new DemoSettings(parse.GetValue(data)!, parse.GetValue(model), parse.GetValue(users), parse.GetValue(rate), parse.GetValue(epochs), parse.GetValue(canary), parse.GetValue(seed), parse.GetValue(device)!, parse.GetValue(json)),
            cancellationToken));
        return command;
    }

    private sealed record DemoSettings(string Data, string? Model, int Users, double Rate, int Epochs, double CanaryPercent, int Seed, string Device, string? Json);

    private static async Task<int> RunAsync(DemoSettings settings, CancellationToken cancellationToken)
    {
        if (settings.Users < 1 || settings.Rate <= 0 || settings.CanaryPercent is < 0 or >= 100)
        {
            throw new ArgumentException("--users must be at least 1, --rate above 0 and --canary-percent in 0..99");
        }

        var device = TorchDevice.Resolve(settings.Device, "--device");
        var time = TimeProvider.System;
        string work = Directory.CreateTempSubdirectory("streaming-demo-").FullName;
        var started = time.GetTimestamp();
        try
        {
            AnsiConsole.Write(new Rule("[bold]Streaming demo: brand-new users personalised in milliseconds[/]"));
            await using var pipeline = await EmbeddedPipeline.StartInfrastructureAsync();
            AnsiConsole.MarkupLineInterpolated($"1. Broker: librdkafka mock cluster at [bold]{pipeline.Kafka.BootstrapServers}[/] (a real Kafka wire-protocol broker).");
            if (pipeline.Redis is { } redis)
            {
                AnsiConsole.MarkupLineInterpolated($"   Sessions: private redis-server at [bold]{redis.Configuration}[/].");
            }
            else
            {
                AnsiConsole.MarkupLineInterpolated($"   [yellow]Sessions: in-memory store, because Redis cannot be had here ({pipeline.RedisUnavailable}). Same semantics, nothing persists.[/]");
            }

            var data = CommonOptions.LoadData(settings.Data);
            string catalogue = string.Equals(settings.Data, "synthetic", StringComparison.OrdinalIgnoreCase) ? "synthetic" : settings.Data;
            AnsiConsole.MarkupLineInterpolated($"2. Data: {data.Users.Count:N0} users, {data.Items.Count:N0} items, {data.Ratings.Count:N0} ratings ({data.Source}).");
            string modelPath = settings.Model ?? Train(data, settings, device, time, Path.Combine(work, "demo.model"));
            using var model = MetaModel.Load(modelPath, device);

            AnsiConsole.MarkupLineInterpolated($"   Model ready after {time.GetElapsedTime(started).TotalSeconds:F0} s.");
            string registry = Path.Combine(work, "registry");
            var versions = await PublishAsync(registry, modelPath, model, settings.CanaryPercent);
            AnsiConsole.MarkupLineInterpolated($"   Registry {registry}: {versions.Active} active (the model, adapted per user){(versions.Canary is { } c ? $", canary {c} for {settings.CanaryPercent:G}% of users (the same model, served without adaptation)" : "")}.");
            await pipeline.StartServicesAsync(new EmbeddedPipelineOptions(modelPath, catalogue, settings.Device, new Dictionary<string, string?>
            {
                ["Adapter:TopK"] = $"{TopK}",
                ["Adapter:Model"] = "",
                ["Adapter:Registry"] = registry,
            }));
            AnsiConsole.MarkupLineInterpolated($"3. Ingest and Adapter running (health and Prometheus metrics: {string.Join(", ", pipeline.Endpoints.Select(e => $"{e.Key} {e.Value}/metrics"))}).");

            var record = model.Manifest.Training;
            var split = MeluProtocol.SplitUsers(data.Ratings.Select(r => r.UserId).Distinct(), record.ValidationFraction, record.TestFraction, record.SplitSeed);
            var tasks = MeluProtocol.WarmStateTasks(data, split.Test, settings.Seed);
            var plan = NewUserReplay.Plan(data, tasks, settings.Users, "demo");
            AnsiConsole.MarkupLineInterpolated($"4. Replaying {plan.Count:N0} new users ({tasks.Count:N0} held-out users never seen in training, cycled) at {settings.Rate:G} users/s; each sends its ratings minus the last 10, which are held back to judge the recommendations and sent {HeldBackAfter.TotalMilliseconds:N0} ms after the user's recommendation arrives; every 50th also sends a malformed event.");
            var result = Replay(pipeline, plan, settings.Rate, time, cancellationToken);
            AnsiConsole.MarkupLineInterpolated($"   Done after {time.GetElapsedTime(started).TotalSeconds:F0} s in all.");

            var online = await OnlineAsync(pipeline, registry, versions);
            var report = Report(result, plan, model, data, pipeline, versions.Active, online);
            if (settings.Json is { } path)
            {
                await File.WriteAllTextAsync(path, JsonSerializer.Serialize(report, JsonOutput.Options), cancellationToken);
                AnsiConsole.MarkupLineInterpolated($"Report written to {path}.");
            }

            return result.Missing.Count == 0 ? 0 : 1;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static string Train(RatingsDataset data, DemoSettings settings, TorchSharp.torch.Device device, TimeProvider time, string path)
    {
        var recipe = TrainingRecipe.Default;
        var options = new TrainingOptions
        {
            Hyperparameters = recipe.Hyperparameters,
            Epochs = settings.Epochs,
            Patience = 3,
            Seed = settings.Seed,
        };
        AnsiConsole.MarkupLineInterpolated($"   Meta-training {recipe.Description} for up to {settings.Epochs} epochs on {device.type.ToString().ToLowerInvariant()}:");
        TrainingResult? result = null;
        ProgressRendering.Run("meta-training", progress => result = MetaTraining.Run(data, options, device, time, progress: progress));
        using var model = result!.Model;
        model.Save(path);
        AnsiConsole.MarkupLineInterpolated($"   Best validation MAE {model.Manifest.Validation?.Mae:F3} at epoch {model.Manifest.Training.BestEpoch}; {result.TasksPerSecond:F0} users/s.");
        if (result.Calibrated is { } calibrated)
        {
            AnsiConsole.MarkupLineInterpolated($"   Served list: {calibrated}.");
        }

        return path;
    }

    // Long enough for Ingest's reader of the recommendations topic to have stored the list the interactions follow.
    private static readonly TimeSpan HeldBackAfter = TimeSpan.FromMilliseconds(300);

    /// <summary>The model as the active version, and the same model served without adaptation (ServingSteps 0) as the canary.</summary>
    private static async Task<(string Active, string? Canary)> PublishAsync(string registry, string modelPath, MetaModel model, double percent)
    {
        await using var store = await ModelRegistryFactory.OpenAsync(registry, create: true);
        var (active, _) = await store.PushAndRollOutAsync(await File.ReadAllBytesAsync(modelPath), new ModelPushOptions { Notes = "demo: the model, adapted per user" }, new RolloutPlan { Kind = RolloutKind.Promote });
        if (percent <= 0)
        {
            return (active.Version, null);
        }

        // The same weights with another manifest (shared, so not disposed here).
        var unadapted = model.WithManifest(m => m with { ServingSteps = 0 }).ToBytes();
        var (canary, _) = await store.PushAndRollOutAsync(unadapted, new ModelPushOptions { ParentVersion = active.Version, Notes = "demo: the same model served without adaptation" }, new RolloutPlan { Kind = RolloutKind.Canary, CanaryPercent = percent });
        return (active.Version, canary.Version);
    }

    /// <summary>The online figures per version, printed as <c>streaming models live</c> does, and what the automated canary would decide on them.</summary>
    private static async Task<IReadOnlyList<OnlineVersion>> OnlineAsync(EmbeddedPipeline pipeline, string registry, (string Active, string? Canary) versions)
    {
        var tallies = await pipeline.ReadTalliesAsync();
        await using var store = await ModelRegistryFactory.OpenAsync(registry);
        var routing = await store.GetRoutingAsync();
        AnsiConsole.Write(new Rule("[bold]Online evaluation: held-back interactions against the lists before them[/]"));
        AnsiConsole.Write(OnlineModelsCommands.Table(tallies, routing, compact: true));
        if (versions.Canary is not null)
        {
            var judge = new AutoCanary(store, () => Task.FromResult(tallies), new InMemoryTrainingRunLog(), new CanaryJudgeOptions { MinUsers = 30 }, TimeProvider.System);
            if (await judge.StepAsync() is { } decision)
            {
                AnsiConsole.MarkupLineInterpolated($"Automated canary (95%, at least 30 users each): {decision.Reason}.");
            }
        }

        return [.. tallies.Select(t => new OnlineVersion(t.Version, ModelsCommand.Role(t.Version, routing), t.Window, t.Users, t.Events, t.HitRate, t.Mrr, t.Mae))];
    }

    private static ReplayResult Replay(EmbeddedPipeline pipeline, IReadOnlyList<ReplayUser> plan, double rate, TimeProvider time, CancellationToken cancellationToken)
    {
        var policy = (5, 5);   // the Sessions defaults the services run with
        var drain = TimeSpan.FromSeconds(60);
        if (!AnsiConsole.Profile.Capabilities.Interactive || Console.IsOutputRedirected)
        {
            int lastReported = -1;
            return PipelineReplay.Run(pipeline, plan, rate, poisonEvery: 50, policy, drain, time, p =>
            {
                int decile = 10 * p.Answered / Math.Max(1, p.Expected);
                if (decile != lastReported)
                {
                    lastReported = decile;
                    Console.WriteLine($"   {p.UsersSent}/{p.Users} users sent, {p.Answered}/{p.Expected} answers, adapted latency p50 {p.Adapted.P50Ms:F1} ms p99 {p.Adapted.P99Ms:F1} ms");
                }
            }, cancellationToken, HeldBackAfter);
        }

        ReplayResult? result = null;
        var table = new Table().AddColumns("users sent", "recommendations", "answered", "adapted p50", "adapted p99");
        AnsiConsole.Live(table).AutoClear(false).Start(context =>
        {
            result = PipelineReplay.Run(pipeline, plan, rate, poisonEvery: 50, policy, drain, time, p =>
            {
                table.Rows.Clear();
                table.AddRow($"{p.UsersSent:N0}/{p.Users:N0}", $"{p.Received:N0}", $"{p.Answered:N0}/{p.Expected:N0}", $"{p.Adapted.P50Ms:F1} ms", $"{p.Adapted.P99Ms:F1} ms");
                context.Refresh();
            }, cancellationToken, HeldBackAfter);
        });
        return result!;
    }

    private static DemoReport Report(ReplayResult result, IReadOnlyList<ReplayUser> plan, MetaModel model, RatingsDataset data, EmbeddedPipeline pipeline, string active, IReadOnlyList<OnlineVersion> online)
    {
        var adapted = result.Latency(RecommendationMessage.Adapted);
        var onboarding = result.Latency(RecommendationMessage.Onboarding);
        var byBasis = result.Received.GroupBy(r => r.Message.Basis).ToDictionary(g => g.Key, g => g.Count());
        var quality = Quality(result, plan, model, data, active);
        double applied = result.Ingested["applied"];
        double deadLettered = result.Ingested["dead_lettered"];
        double duplicates = result.Ingested["duplicate"];

        AnsiConsole.Write(new Rule("[bold]Report[/]"));
        var counts = new Table().AddColumns("", "count");
        counts.AddRow("events published", $"{result.EventsSent:N0}");
        counts.AddRow("held-back interactions sent after the recommendations", $"{result.HeldBackSent:N0}");
        counts.AddRow("events applied to sessions", $"{applied:N0}");
        counts.AddRow("malformed events dead-lettered (with reason)", $"{deadLettered:N0}");
        counts.AddRow("duplicates dropped", $"{duplicates:N0}");
        counts.AddRow("new users", $"{plan.Count:N0}");
        counts.AddRow("users adapted", $"{result.Received.Where(r => r.Message.Basis == RecommendationMessage.Adapted).Select(r => r.Message.UserId).Distinct().Count():N0}");
        counts.AddRow("recommendations: adapted / onboarding", $"{byBasis.GetValueOrDefault(RecommendationMessage.Adapted):N0} / {byBasis.GetValueOrDefault(RecommendationMessage.Onboarding):N0}");
        counts.AddRow("expected answers missing", result.Missing.Count == 0 ? "[green]0[/]" : $"[red]{result.Missing.Count}[/] (e.g. {Markup.Escape(result.Missing[0])})");
        AnsiConsole.Write(counts);

        var latency = new Table().AddColumns("latency from the triggering event", "count", "p50", "p95", "p99", "max");
        foreach (var (name, l) in new[]
        {
            ("adapted: recommendation produced", result.ProducedLatency(RecommendationMessage.Adapted)),
            ("adapted: received by a consumer", adapted),
            ("onboarding: recommendation produced", result.ProducedLatency(RecommendationMessage.Onboarding)),
            ("onboarding: received by a consumer", onboarding),
        })
        {
            latency.AddRow(name, $"{l.Count:N0}", $"{l.P50Ms:F1} ms", $"{l.P95Ms:F1} ms", $"{l.P99Ms:F1} ms", $"{l.MaxMs:F1} ms");
        }

        AnsiConsole.Write(latency);

        var table = new Table().AddColumns($"top-{TopK} list, against each user's held-back liked items (rating >= 4)", "users", $"recall@{TopK}", $"nDCG@{TopK}", "distinct items");
        foreach (var q in quality)
        {
            table.AddRow(q.Name, $"{q.Users:N0}", $"{q.Recall:F3}", $"{q.Ndcg:F3}", $"{q.DistinctItems:N0}");
        }

        AnsiConsole.Write(table);
        var served = quality[0];
        foreach (var other in quality.Skip(1).Where(q => q.Name.StartsWith("popularity", StringComparison.Ordinal) || q.Name.StartsWith("EASE", StringComparison.Ordinal) || q.Name.StartsWith("same model", StringComparison.Ordinal)))
        {
            AnsiConsole.MarkupLineInterpolated($"Served lists found [bold]{served.Recall / Math.Max(1e-9, other.Recall):F2}x[/] the held-back liked items of {other.Name} on the same users (recall@{TopK} {other.Recall:F3} vs {served.Recall:F3}).");
        }
        AnsiConsole.MarkupLineInterpolated($"Throughput: {result.EventsSent / result.Seconds:N0} events/s and {result.Received.Count / result.Seconds:N0} recommendations/s over {result.Seconds:F1} s.");
        return new DemoReport(result.EventsSent, applied, deadLettered, duplicates, plan.Count, byBasis, result.Missing.Count, adapted, onboarding, quality, result.Seconds, pipeline.Redis is null ? "in-memory" : "redis", online);
    }

    /// <summary>
    /// Each adapted user's last adapted list from the pipeline, against lists computed here for the same users from
    /// the same sessions: popularity and EASE fitted on the model's training users only, the same model without
    /// adaptation, and the onboarding list the pipeline sent.
    /// </summary>
    private static List<ListQuality> Quality(ReplayResult result, IReadOnlyList<ReplayUser> plan, MetaModel model, RatingsDataset data, string active)
    {
        // Lists made before the held-back interactions arrived (those after them adapted on what they judge), by the active version.
        var sent = plan.ToDictionary(u => u.UserId, u => u.Events.Count, StringComparer.Ordinal);
        var latest = result.Received
            .Where(r => r.Message.Interactions <= sent.GetValueOrDefault(r.Message.UserId))
            .GroupBy(r => (r.Message.UserId, r.Message.Basis))
            .ToDictionary(g => g.Key, g => g.MaxBy(r => r.Message.Interactions)!.Message);
        var judged = plan
            .Select(u => (User: u, Liked: u.HeldOut.Where(r => r.Value >= 4).Select(r => r.ItemId).ToHashSet()))
            .Where(x => x.Liked.Count > 0 && latest.TryGetValue((x.User.UserId, RecommendationMessage.Adapted), out var list) && list.ModelVersion == active)
            .ToList();
        using var recommender = new BatchRecommender(model, data.Items.Values);
        var unadapted = recommender.Recommend([.. judged.Select(x => new UserSession(x.User.Profile, x.User.Events))], steps: 0, TopK);

        // The classic recommenders a user could run instead, fitted on the model's own training users (never these users).
        var record = model.Manifest.Training;
        var split = MeluProtocol.SplitUsers(data.Ratings.Select(r => r.UserId).Distinct(), record.ValidationFraction, record.TestFraction, record.SplitSeed);
        var fit = new TopNTrainingData(MeluProtocol.WarmStateRatings(data, split.Train), data.Items);
        var sessions = judged.Select((x, i) => new UserTask(i, x.User.Events, [])).ToArray();
        var catalogue = data.Items.Keys.Order().ToArray();
        var evaluator = new TopNEvaluator(new TopNOptions(ListLength: TopK));
        IReadOnlyList<int[]> ListsOf(ITopNRecommender baseline)
        {
            baseline.Fit(fit);
            return evaluator.TopLists(baseline, sessions, catalogue);
        }

        var popularity = ListsOf(new PopularityRecommender());
        var ease = ListsOf(new EaseRecommender());

        ListQuality Measure(string name, IEnumerable<(IReadOnlyList<int> List, HashSet<int> Liked)> lists)
        {
            var all = lists.ToList();
            return new ListQuality(name, all.Count,
                all.Count == 0 ? double.NaN : all.Average(x => ListMetrics.RecallAtK(x.List, x.Liked, TopK)),
                all.Count == 0 ? double.NaN : all.Average(x => ListMetrics.BinaryNdcgAtK(x.List, x.Liked, TopK)),
                all.SelectMany(x => x.List).Distinct().Count());
        }

        return
        [
            Measure("adapted by the pipeline", judged.Select(x => ((IReadOnlyList<int>)[.. latest[(x.User.UserId, RecommendationMessage.Adapted)].Items.Select(i => i.ItemId)], x.Liked))),
            Measure("popularity (training users)", judged.Select((x, i) => ((IReadOnlyList<int>)popularity[i], x.Liked))),
            Measure("EASE (training users, lambda 500)", judged.Select((x, i) => ((IReadOnlyList<int>)ease[i], x.Liked))),
            Measure("same model, not adapted", judged.Select((x, i) => ((IReadOnlyList<int>)[.. unadapted[i].Items.Select(s => s.ItemId)], x.Liked))),
            Measure("onboarding list (evidence candidates, popular)", judged
                .Where(x => latest.ContainsKey((x.User.UserId, RecommendationMessage.Onboarding)))
                .Select(x => ((IReadOnlyList<int>)[.. latest[(x.User.UserId, RecommendationMessage.Onboarding)].Items.Select(i => i.ItemId).Where(id => !x.User.Events.Any(e => e.ItemId == id))], x.Liked))),
        ];
    }

    private sealed record ListQuality(string Name, int Users, double Recall, double Ndcg, int DistinctItems);

    private sealed record DemoReport(
        long EventsPublished,
        double EventsApplied,
        double EventsDeadLettered,
        double DuplicatesDropped,
        int NewUsers,
        IReadOnlyDictionary<string, int> RecommendationsByBasis,
        int MissingAnswers,
        LatencySummary AdaptedLatency,
        LatencySummary OnboardingLatency,
        IReadOnlyList<ListQuality> Quality,
        double Seconds,
        string SessionStore,
        IReadOnlyList<OnlineVersion> OnlineByVersion);

    /// <summary>One row of the report's online table: a version's figures on the interactions that followed its lists.</summary>
    private sealed record OnlineVersion(string Version, string Role, string? Window, long Users, long Events, double HitRate, double Mrr, double Mae);
}

using System.Diagnostics;
using Spectre.Console;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using Streaming.Learning;
using Streaming.Learning.Inputs;
using Streaming.Learning.Methods;
using Streaming.Learning.Models;
using Streaming.Learning.Serving;
using Streaming.Learning.Training;
using Streaming.Shared.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Streaming.Cli.Benchmarks;

/// <summary>
/// <c>streaming bench adapt</c>: new users adapted (the model's local steps) and scored against the whole catalogue,
/// batched through <see cref="BatchRecommender"/> versus the same recommender called one user at a time,
/// on the same model and the same users in the same run (the loop's users are the first of the batched run's), each
/// the median of three rounds taken in turns; plus meta-training throughput.
/// </summary>
internal static class AdaptationBenchmark
{
    public sealed record Settings(string? Data, string? Model, int Users, int LoopUsers, int Batch, int? Steps, string? Scope, string? Network, string Device);

    public sealed record Throughput(int Users, double Seconds, double UsersPerSecond, double MsPerUser, double LatencyP50Ms, double LatencyP99Ms);

    public sealed record Result(
        string Device,
        string Data,
        string Model,
        string Network,
        string Method,
        string Scope,
        int Steps,
        int CatalogueItems,
        double MeanSupportSize,
        int BatchSize,
        long FastStateBytes,
        Throughput Batched,
        Throughput PerUserLoop,
        double Speedup,
        Throughput AdaptOnlyBatched,
        Throughput AdaptOnlyPerUserLoop,
        double AdaptOnlySpeedup,
        string MetaTrainingAlgorithm,
        double MetaTrainingUsersPerSecond);

    private const int Rounds = 3;

    public static Result Run(Settings s)
    {
        var device = TorchDevice.Resolve(s.Device, "--device");
        string dataPath = s.Data ?? MovieLensLocator.Find() ?? "synthetic";
        var data = Commands.CommonOptions.LoadData(dataPath);
        using var model = s.Model is not null ? MetaModel.Load(s.Model, device) : FreshModel(data, s.Scope, s.Network, device);
        int steps = s.Steps ?? model.Module.Hyper.InnerSteps;
        var catalogue = data.Items.Values.OrderBy(i => i.ItemId).ToArray();
        using var recommender = new BatchRecommender(model, catalogue);

        // Real new-user support sets (the protocol's), cycled to the requested number of users.
        var tasks = MeluProtocol.ExistingItemsTasks(data, data.Users.Keys, seed: 1);
        if (tasks.Count == 0)
        {
            throw new InvalidOperationException($"{data.Source}: no users with enough ratings to benchmark");
        }

        var sessions = Enumerable.Range(0, Math.Max(s.Users, s.LoopUsers))
            .Select(i => tasks[i % tasks.Count])
            .Select(t => new UserSession(data.Users.GetValueOrDefault(t.UserId) ?? UserProfile.Unknown, t.Support))
            .ToArray();
        AnsiConsole.MarkupLineInterpolated($"Benchmark: {model.Module.Hyper.Method} on {model.Module.Hyper.Network}, {model.Network.Hyper.Scope} scope, {steps} steps, catalogue {catalogue.Length:N0} items, mean support {sessions.Average(x => x.Interactions.Count):F1} ratings, on {device.type.ToString().ToLowerInvariant()}, {get_num_threads()} threads");

        // Warm-up of both shapes (allocator, kernels), then the four runs take turns for three rounds and each figure is
        // the median of its rounds: on a shared machine a neighbour's burst then moves one run of each, not all runs of
        // one. The loop's users are the first of the batched run's.
        recommender.Recommend(sessions.Take(s.Batch).ToArray(), steps, 10);
        recommender.Recommend(sessions.Take(1).ToArray(), steps, 10);
        var rounds = Enumerable.Range(0, Rounds).Select(_ => new[]
        {
            Measure(sessions.Take(s.Users).Chunk(s.Batch), call => recommender.Recommend(call, steps, 10)),
            Measure(sessions.Take(s.LoopUsers).Select(x => new[] { x }), call => recommender.Recommend(call, steps, 10)),
            Measure(sessions.Take(s.Users).Chunk(s.Batch), call => recommender.AdaptFastState(call, steps)),
            Measure(sessions.Take(s.LoopUsers).Select(x => new[] { x }), call => recommender.AdaptFastState(call, steps)),
        }).ToArray();
        Throughput Median(int run) => rounds.Select(r => r[run]).OrderBy(t => t.UsersPerSecond).ElementAt(Rounds / 2);
        var (batched, loop, adaptBatched, adaptLoop) = (Median(0), Median(1), Median(2), Median(3));
        double training = MetaTrainingThroughput(model, data, device);

        var table = new Table().AddColumns("mode", "users", "users/s", "ms per user", "p50 ms per call", "p99 ms per call");
        table.AddRow($"batched ({s.Batch} per call)", $"{batched.Users}", $"{batched.UsersPerSecond:F0}", $"{batched.MsPerUser:F3}", $"{batched.LatencyP50Ms:F1}", $"{batched.LatencyP99Ms:F1}");
        table.AddRow("per-user loop", $"{loop.Users}", $"{loop.UsersPerSecond:F0}", $"{loop.MsPerUser:F3}", $"{loop.LatencyP50Ms:F1}", $"{loop.LatencyP99Ms:F1}");
        table.AddRow($"adapt only, batched ({s.Batch})", $"{adaptBatched.Users}", $"{adaptBatched.UsersPerSecond:F0}", $"{adaptBatched.MsPerUser:F3}", $"{adaptBatched.LatencyP50Ms:F1}", $"{adaptBatched.LatencyP99Ms:F1}");
        table.AddRow("adapt only, per-user loop", $"{adaptLoop.Users}", $"{adaptLoop.UsersPerSecond:F0}", $"{adaptLoop.MsPerUser:F3}", $"{adaptLoop.LatencyP50Ms:F1}", $"{adaptLoop.LatencyP99Ms:F1}");
        AnsiConsole.Write(table);
        double speedup = batched.UsersPerSecond / loop.UsersPerSecond;
        double adaptSpeedup = adaptBatched.UsersPerSecond / adaptLoop.UsersPerSecond;
        AnsiConsole.MarkupLineInterpolated($"Each row: the median of {Rounds} rounds, taken in turns.");
        AnsiConsole.MarkupLineInterpolated($"Speed-up batched / per-user loop: [bold]{speedup:F1}x[/] adapt + score, [bold]{adaptSpeedup:F1}x[/] adapt only; per-user fast state {model.Module.FastStateSize * 4:N0} bytes");
        AnsiConsole.MarkupLineInterpolated($"Meta-training throughput ({model.Module.Hyper.Method}, {model.Module.Hyper.InnerSteps} steps): [bold]{training:F0} users/s[/]");

        return new Result(
            device.type.ToString().ToLowerInvariant(), data.Source, s.Model ?? "fresh network (untrained weights; speed does not depend on them)",
            model.Module.Hyper.Network, model.Module.Hyper.Method, model.Network.Hyper.Scope.ToString().ToLowerInvariant(), steps, catalogue.Length, sessions.Average(x => x.Interactions.Count), s.Batch,
            model.Module.FastStateSize * 4, batched, loop, speedup, adaptBatched, adaptLoop, adaptSpeedup, model.Module.Hyper.Method, training);
    }

    private static Throughput Measure(IEnumerable<UserSession[]> calls, Action<UserSession[]> call)
    {
        var latencies = new List<double>();
        int users = 0;
        var total = Stopwatch.StartNew();
        foreach (var group in calls)
        {
            var watch = Stopwatch.StartNew();
            call(group);
            latencies.Add(watch.Elapsed.TotalMilliseconds);
            users += group.Length;
        }

        double seconds = total.Elapsed.TotalSeconds;
        latencies.Sort();
        return new Throughput(users, seconds, users / seconds, seconds * 1000 / users, ListMetrics.Percentile(latencies, 0.50), ListMetrics.Percentile(latencies, 0.99));
    }

    private static double MetaTrainingThroughput(MetaModel model, RatingsDataset data, Device device)
    {
        // A private copy: the benchmark must not change the model it measured.
        using var copy = model.Clone();
        copy.Module.to(device);
        var table = model.Features.EncodeItems(data.Items.Values.OrderBy(i => i.ItemId));
        using var items = new ItemFeatureTensors(table, device);
        using var learner = new MetaLearner(copy.Module, items, firstOrder: false);
        var tasks = MeluProtocol.WarmStateTasks(data, data.Users.Keys, seed: 2);
        var batches = MetaTraining.MakeBatches(tasks, copy.Module.Hyper.MetaBatchSize, new Random(3)).Take(40).ToList();
        using (var warm = TaskBatch.Create(batches[0], table, model.Features, data.Users, device))
        {
            learner.TrainStep(warm);
        }

        int users = 0;
        var watch = Stopwatch.StartNew();
        foreach (var b in batches.Skip(1))
        {
            using var batch = TaskBatch.Create(b, table, model.Features, data.Users, device);
            learner.TrainStep(batch);
            users += b.Count;
        }

        return users / watch.Elapsed.TotalSeconds;
    }

    // The default recipe's network (or --network's, with the MeLU family's settings), freshly initialised.
    private static MetaModel FreshModel(RatingsDataset data, string? scope, string? network, Device device)
    {
        var features = FeatureSpace.Build(data.Items.Values, data.Users.Values);
        var recipe = network is null ? TrainingRecipe.Default : TrainingRecipe.Named(Commands.TrainCommand.ParseNetwork(network, "--network"), null);
        var hyper = recipe.Hyperparameters with { Scope = scope is null ? FastWeightScope.All : Commands.CommonOptions.ParseEnum<FastWeightScope>(scope, "--scope") };
        manual_seed(1);
        var module = new MetaModule(hyper, features);
        module.to(device);
        return MetaModel.Unsaved(module, features, new TrainingRecord(), validation: null, TimeProvider.System.GetUtcNow());
    }
}

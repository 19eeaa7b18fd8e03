using Spectre.Console;
using Streaming.Local;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Learning;
using Streaming.Learning.Training;

namespace Streaming.Cli.Benchmarks;

/// <summary>
/// <c>streaming bench e2e</c>: brand-new users arrive at a fixed rate, each sending the threshold's worth of
/// interactions, through the whole embedded pipeline (mock broker, private Redis, Ingest and Adapter with
/// full-catalogue scoring); latency from the threshold-crossing event to its recommendation. The baseline,
/// measured in the same run on the same pipeline, is a light load of 10 users/s: the ratios show what load costs.
/// </summary>
internal static class EndToEndBenchmark
{
    private const int Threshold = 5;
    private const double BaselineRate = 10;

    public sealed record Settings(string? Data, string? Model, double Rate, double Seconds, bool FindMax, double MaxP99Ms, string Device);

    /// <summary>One rate's figures (milliseconds).</summary>
    public sealed record Step(
        double UsersPerSecond,
        int Users,
        double EventsPerSecond,
        LatencySummary Produced,
        LatencySummary Received,
        LatencySummary Onboarding,
        int Missing,
        bool Sustained);

    public sealed record Result(string Data, int CatalogueItems, string SessionStore, Step Baseline, Step Target, IReadOnlyList<Step> Sweep, double? HighestSustainedRate, double MaxP99Ms);

    public static async Task<Result> RunAsync(Settings s, CancellationToken cancellationToken)
    {
        string dataPath = s.Data ?? MovieLensLocator.Find() ?? "synthetic";
        var data = Commands.CommonOptions.LoadData(dataPath);
        var device = TorchDevice.Resolve(s.Device, "--device");
        string work = Directory.CreateTempSubdirectory("streaming-bench-").FullName;
        try
        {
            string modelPath = s.Model ?? QuickModel(data, device, Path.Combine(work, "bench.model"));
            string catalogue = string.Equals(dataPath, "synthetic", StringComparison.OrdinalIgnoreCase) ? "synthetic" : dataPath;
            var tasks = MeluProtocol.WarmStateTasks(data, data.Users.Keys.Order(), seed: 1).Where(t => t.Support.Count >= Threshold).ToList();
            string sessionStore = "redis";

            // Each rate on a fresh pipeline (broker, Redis, services): a rate the machine cannot keep up with
            // leaves a backlog that would otherwise spill into the next measurement.
            async Task<Step> Measure(double rate)
            {
                await using var pipeline = await EmbeddedPipeline.StartInfrastructureAsync();
                await pipeline.StartServicesAsync(new EmbeddedPipelineOptions(modelPath, catalogue, s.Device));
                sessionStore = pipeline.Redis is null ? "in-memory" : "redis";
                var users = NewUserReplay.Plan(data, tasks, Math.Max(1, (int)Math.Round(rate * s.Seconds)), $"bench-{rate}", eventsPerUser: Threshold);
                var result = PipelineReplay.Run(pipeline, users, rate, poisonEvery: 0, (Threshold, 5), TimeSpan.FromSeconds(30), TimeProvider.System, null, cancellationToken);
                var produced = result.ProducedLatency(RecommendationMessage.Adapted);
                var step = new Step(rate, users.Count, result.EventsSent / result.Seconds, produced, result.Latency(RecommendationMessage.Adapted),
                    result.Latency(RecommendationMessage.Onboarding), result.Missing.Count, result.Missing.Count == 0 && produced.P99Ms <= s.MaxP99Ms);
                AnsiConsole.MarkupLineInterpolated($"  {rate,6:G} users/s: adapted p50 {produced.P50Ms:F1} ms, p99 {produced.P99Ms:F1} ms (received: p50 {step.Received.P50Ms:F1}, p99 {step.Received.P99Ms:F1}){(step.Missing > 0 ? $", {step.Missing} unanswered" : "")}");
                return step;
            }

            AnsiConsole.MarkupLineInterpolated($"Each rate on a fresh embedded pipeline (mock broker, private Redis, Ingest and Adapter), {data.Items.Count:N0} catalogue items scored per user ({data.Source}), after a warm-up of the same traffic:");
            var baseline = await Measure(BaselineRate);
            var target = await Measure(s.Rate);
            var sweep = new List<Step>();
            if (s.FindMax)
            {
                for (double rate = 25; rate <= 3200; rate *= 2)
                {
                    var step = await Measure(rate);
                    sweep.Add(step);
                    if (!step.Sustained)
                    {
                        break;
                    }
                }
            }

            double? highest = sweep.Concat([baseline, target]).Where(x => x.Sustained).Select(x => (double?)x.UsersPerSecond).Max();
            var outcome = new Result(data.Source, data.Items.Count, sessionStore, baseline, target, sweep, highest, s.MaxP99Ms);
            Render(outcome);
            return outcome;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static void Render(Result r)
    {
        var table = new Table().AddColumns("new users/s", "users", "events/s", "produced p50", "produced p95", "produced p99", "received p50", "received p99", "onboarding p50", "unanswered", $"p99 vs {BaselineRate:G}/s");
        foreach (var step in new[] { r.Baseline, r.Target }.Concat(r.Sweep))
        {
            table.AddRow(
                $"{step.UsersPerSecond:G}", $"{step.Users:N0}", $"{step.EventsPerSecond:N0}",
                $"{step.Produced.P50Ms:F1} ms", $"{step.Produced.P95Ms:F1} ms", $"{step.Produced.P99Ms:F1} ms",
                $"{step.Received.P50Ms:F1} ms", $"{step.Received.P99Ms:F1} ms", $"{step.Onboarding.P50Ms:F1} ms",
                $"{step.Missing}", $"{step.Produced.P99Ms / r.Baseline.Produced.P99Ms:F2}x");
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"Latency: from the threshold-crossing interaction's event time to the recommendation produced by the Adapter (produced) and read by a consumer of the topic (received).");
        if (r.Sweep.Count > 0)
        {
            AnsiConsole.MarkupLineInterpolated($"Highest rate sustained with every user answered and produced p99 <= {r.MaxP99Ms:G} ms: [bold]{(r.HighestSustainedRate is { } h ? $"{h:G} new users/s" : "none")}[/].");
        }
    }

    /// <summary>Latency does not depend on how well the model is trained: one epoch gives a real model (with evidence candidates) quickly.</summary>
    private static string QuickModel(RatingsDataset data, TorchSharp.torch.Device device, string path)
    {
        AnsiConsole.MarkupLineInterpolated($"Training a one-epoch model on {data.Source} (latency does not depend on model quality; pass --model to serve another) ...");
        var options = new TrainingOptions { Epochs = 1, Patience = 1 };
        using var model = MetaTraining.Run(data, options, device, TimeProvider.System).Model;
        model.Save(path);
        return path;
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Streaming.Learning.Evaluation;
using Streaming.Learning.Models;
using Streaming.Learning.Serving;
using Streaming.Learning.Training;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using Streaming.Shared.Models;
using Streaming.Tests.Data;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

/// <summary>
/// The methods of issue 12 against MetaSGD and the baselines on MovieLens-1M, measured by hand (explicit: about
/// 15 minutes of two busy cores): <code>./streaming test -method '*MethodComparison*' -explicit only</code>
/// Each method trains from scratch on the model split (seed 1) with the same wall-clock budget, then
/// <see cref="ColdStartEvaluation"/> measures it on the held-out test users' two partitions; the baselines are
/// measured once, in the first evaluation. The support sets are in the file's within-user order (this MovieLens copy
/// has no timestamps), which is the order the sequential networks read. Writes
/// <c>artifacts/measurements/methods-comparison.md</c> and one JSON report per method.
/// </summary>
[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class MethodComparisonMeasurement(MovieLensFixture movieLens) : IClassFixture<MovieLensFixture>
{
    /// <summary>Wall-clock training budget per method (an epoch is not started that would end past it).</summary>
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(
        double.Parse(Environment.GetEnvironmentVariable("STREAMING_COMPARISON_SECONDS") ?? "70", CultureInfo.InvariantCulture));

    // The plain baseline's regression epochs (eval's default is 8): bounded so that the comparison fits its time.
    private const int PlainEpochs = 3;

    private static readonly (string Label, Hyperparameters Hyper)[] Methods =
    [
        ("metasgd", new Hyperparameters { Method = "metasgd" }),
        ("mamo", new Hyperparameters { Method = "mamo" }),
        ("lslr", new Hyperparameters { Method = "lslr" }),
        ("melo", new Hyperparameters { Method = "melo" }),
        ("metasgd + gru4rec", new Hyperparameters { Method = "metasgd", Network = "gru4rec" }),
        ("melo + gru4rec", new Hyperparameters { Method = "melo", Network = "gru4rec" }),
        ("melo + sasrec", new Hyperparameters { Method = "melo", Network = "sasrec" }),
    ];

    [Fact(Explicit = true)]
    public void MethodComparison_OnMovieLensTestUsers_EveryMethodTrainsAndEvaluates()
    {
        var data = movieLens.Require();
        var time = TimeProvider.System;
        var root = Environment.GetEnvironmentVariable("STREAMING_ROOT") ?? Environment.CurrentDirectory;
        var folder = Path.Combine(root, "artifacts", "measurements");
        Directory.CreateDirectory(folder);
        var rows = new List<Row>();
        var failures = new List<string>();
        EvaluationReport? first = null;
        // STREAMING_COMPARISON_METHODS (labels, comma-separated) reruns some of them, into a file of their own.
        var only = Environment.GetEnvironmentVariable("STREAMING_COMPARISON_METHODS")?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var (label, hyper) in Methods.Where(m => only is null || only.Contains(m.Label)))
        {
            var options = new TrainingOptions { Hyperparameters = hyper, Epochs = 30, Patience = 4, Seed = 1, TimeBudget = Budget };
            // The budget also cuts a first epoch short (after the current batch): on two busy cores an epoch of a
            // sequential network can take longer than the whole budget. The weights are then the last batch's.
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            budget.CancelAfter(Budget);
            var started = Stopwatch.GetTimestamp();
            TrainingResult result;
            try
            {
                result = MetaTraining.Run(data, options, CPU, time, cancellationToken: budget.Token);
            }
            catch (InvalidOperationException e)
            {
                // A method that diverges is a finding, not a reason to lose the others' figures.
                failures.Add($"{label}: {e.Message}");
                continue;
            }

            double trainSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            using var model = result.Model;
            var report = ColdStartEvaluation.Run(model, label, data, new EvaluationOptions { Seed = 1, IncludeBaselines = first is null, PlainEpochs = PlainEpochs }, time);
            first ??= report;
            File.WriteAllText(Path.Combine(folder, $"methods-{label.Replace(" + ", "-", StringComparison.Ordinal)}.json"), JsonSerializer.Serialize(report));
            rows.Add(new Row(label, report, result.History.Count, result.TasksPerSecond, trainSeconds, AdaptationMs(model, data), model.Module.FastStateSize * sizeof(float)));
            Assert.True(double.IsFinite(report.ExistingItemsNewUsers.Mae) && double.IsFinite(report.NewItemsNewUsers.Mae), label);
        }

        var text = Table(rows, first!) + string.Concat(failures.Select(f => $"\nNot measured: {f}\n"));
        File.WriteAllText(Path.Combine(folder, only is null ? "methods-comparison.md" : $"methods-comparison-{string.Join("-", only).Replace(" + ", "-", StringComparison.Ordinal)}.md"), text);
        TestContext.Current.SendDiagnosticMessage(text);
        TestContext.Current.TestOutputHelper?.WriteLine(text);
    }

    // Per-user adaptation time as the Adapter runs it: batches of 256 held-out users' existing-item support sets, no scoring.
    private static double AdaptationMs(MetaModel model, RatingsDataset data)
    {
        var record = model.Manifest.Training;
        var split = MeluProtocol.SplitUsers(data.Ratings.Select(r => r.UserId).Distinct(), record.ValidationFraction, record.TestFraction, record.SplitSeed);
        var sessions = MeluProtocol.ExistingItemsTasks(data, split.Test, 1).Select(t => new UserSession(data.Users[t.UserId], t.Support)).ToArray();
        using var recommender = new BatchRecommender(model, data.Items.Values);
        recommender.AdaptFastState(sessions[..Math.Min(32, sessions.Length)], model.Module.Hyper.InnerSteps);   // warm-up
        var started = Stopwatch.GetTimestamp();
        foreach (var chunk in sessions.Chunk(256))
        {
            recommender.AdaptFastState(chunk, model.Module.Hyper.InnerSteps);
        }

        return Stopwatch.GetElapsedTime(started).TotalMilliseconds / sessions.Length;
    }

    private static string Table(List<Row> rows, EvaluationReport withBaselines)
    {
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"MovieLens-1M ({withBaselines.Users}); seed 1; {Budget.TotalSeconds:F0} s training budget per method on CPU; support sets in the file's within-user order (no timestamps in this copy).");
        s.AppendLine(CultureInfo.InvariantCulture, $"Baselines fitted on {withBaselines.BaselinesFittedOn}; plain_network_finetuned: {PlainEpochs} regression epochs, fine-tune rate {withBaselines.PlainFineTuneRate}. Epochs: completed epochs (0: the budget ended inside the first; the model is then the last batch's).");
        foreach (var (name, pick) in new (string, Func<EvaluationReport, PartitionMetrics>)[] { ("existing items, new users", r => r.ExistingItemsNewUsers), ("new items, new users", r => r.NewItemsNewUsers) })
        {
            s.AppendLine();
            s.AppendLine(CultureInfo.InvariantCulture, $"**{name}**");
            s.AppendLine();
            s.AppendLine("| model | epochs (users/s) | train s | MAE | RMSE | nDCG@3 | recall@10 | recall@20 | nDCG@20 | MAE r=1 | r=2 | r=3 | r=4 | r=5 | adapt ms/user | state bytes |");
            s.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var row in rows)
            {
                var m = pick(row.Report);
                s.AppendLine(CultureInfo.InvariantCulture,
                    $"| {row.Label} | {row.Epochs} ({row.UsersPerSecond:F0}) | {row.TrainSeconds:F0} | {m.Mae:F4} | {m.Rmse:F4} | {m.Ndcg3:F4} | {F(m.TopN?.Recall10)} | {F(m.TopN?.Recall20)} | {F(m.TopN?.Ndcg20)} | {ByRating(m.MaeByRating)} | {row.AdaptMs:F3} | {row.StateBytes:N0} |");
            }

            bool existing = name.StartsWith("existing", StringComparison.Ordinal);
            foreach (var (baseline, pair) in withBaselines.Baselines)
            {
                var b = existing ? pair.ExistingItemsNewUsers : pair.NewItemsNewUsers;
                if (b is not null)
                {
                    s.AppendLine(CultureInfo.InvariantCulture,
                        $"| {baseline} |  |  | {F(b.Mae)} | {F(b.Rmse)} | {F(b.Ndcg3)} | {F(b.TopN?.Recall10)} | {F(b.TopN?.Recall20)} | {F(b.TopN?.Ndcg20)} | {ByRating(b.MaeByRating)} |  |  |");
                }
            }
        }

        return s.ToString();
    }

    private static string F(double? value) => value is { } v && double.IsFinite(v) ? v.ToString("F4", CultureInfo.InvariantCulture) : "";

    private static string ByRating(MaeByRating? m) =>
        string.Join(" | ", Enumerable.Range(1, 5).Select(r => m is null ? "" : F(m[r])));

    private sealed record Row(string Label, EvaluationReport Report, int Epochs, double UsersPerSecond, double TrainSeconds, double AdaptMs, long StateBytes);
}

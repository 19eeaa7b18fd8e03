using System.Globalization;
using System.Text.Json;
using Streaming.Learning.Evaluation;
using Streaming.Learning.Models;
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
        ("itemitem (default)", TrainingRecipe.Default.Hyperparameters),
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
        var trained = new List<(string Label, MetaModel Model)>();
        var failures = new List<string>();
        // STREAMING_COMPARISON_METHODS (labels, comma-separated) reruns some of them, into a file of their own.
        var only = Environment.GetEnvironmentVariable("STREAMING_COMPARISON_METHODS")?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        try
        {
            foreach (var (label, hyper) in Methods.Where(m => only is null || only.Contains(m.Label)))
            {
                var options = new TrainingOptions { Hyperparameters = hyper, Epochs = 30, Patience = 4, Seed = 1, TimeBudget = Budget };
                // The budget also cuts a first epoch short (after the current batch): on two busy cores an epoch of a
                // sequential network can take longer than the whole budget. The weights are then the last batch's.
                using var budget = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
                budget.CancelAfter(Budget);
                try
                {
                    trained.Add((label, MetaTraining.Run(data, options, CPU, time, cancellationToken: budget.Token).Model));
                }
                catch (InvalidOperationException e)
                {
                    // A method that diverges is a finding, not a reason to lose the others' figures.
                    failures.Add($"{label}: {e.Message}");
                }
            }

            var report = ModelComparison.Run(trained, data, new EvaluationOptions { Seed = 1, PlainEpochs = PlainEpochs }, time);
            foreach (var model in report.Models)
            {
                File.WriteAllText(Path.Combine(folder, $"methods-{model.Label.Replace(" + ", "-", StringComparison.Ordinal)}.json"), JsonSerializer.Serialize(model.Report));
                Assert.True(double.IsFinite(model.Report.ExistingItemsNewUsers.Mae) && double.IsFinite(model.Report.NewItemsNewUsers.Mae), model.Label);
            }

            var text = $"{Budget.TotalSeconds:F0} s training budget per method on CPU; plain_network_finetuned: {PlainEpochs} regression epochs.\n"
                + ModelComparison.Markdown(report) + string.Concat(failures.Select(f => $"\nNot measured: {f}\n"));
            File.WriteAllText(Path.Combine(folder, only is null ? "methods-comparison.md" : $"methods-comparison-{string.Join("-", only).Replace(" + ", "-", StringComparison.Ordinal)}.md"), text);
            TestContext.Current.SendDiagnosticMessage(text);
            TestContext.Current.TestOutputHelper?.WriteLine(text);
        }
        finally
        {
            foreach (var (_, model) in trained)
            {
                model.Dispose();
            }
        }
    }
}

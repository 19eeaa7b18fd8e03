using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Streaming.Shared.Evaluation;
using Streaming.Learning;
using Streaming.Learning.Evaluation;
using Streaming.Learning.Models;
using Streaming.Shared.Models;

namespace Streaming.Cli.Commands;

/// <summary><c>streaming eval</c>: the MeLU cold-start protocol for a model and its baselines.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data(required: true);
        var model = new Option<string>("--model") { Description = "Model file written by 'streaming train'.", Required = true };
        var steps = new Option<int?>("--steps") { Description = "Local update steps (default: the model's own)." };
        var allUsers = new Option<bool>("--all-users") { Description = "Treat every user as new, even on the model's own training data (default: only its held-out test users)." };
        var trainData = new Option<string?>("--train-data") { Description = "The model's training data folder, where the baselines are fitted (default: the folder the model records; never the evaluated users)." };
        var seed = CommonOptions.Seed();
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var command = new Command("eval", "Evaluate a model on users treated as brand-new (MeLU protocol), next to its baselines.")
        {
            data, model, steps, allUsers, trainData, seed, device, json,
        };
        command.SetAction(parse =>
        {
            var options = new EvaluationOptions { Steps = parse.GetValue(steps), Seed = parse.GetValue(seed), AllUsers = parse.GetValue(allUsers) };
            return Run(parse.GetValue(data)!, parse.GetValue(model)!, options, parse.GetValue(device)!, parse.GetValue(json), parse.GetValue(trainData));
        });
        return command;
    }

    public static int Run(string dataPath, string modelPath, EvaluationOptions options, string deviceName, string? jsonPath, string? trainDataPath = null)
    {
        var device = TorchDevice.Resolve(deviceName, "--device");
        using var model = MetaModel.Load(modelPath, device);
        var data = CommonOptions.LoadData(dataPath);
        options = options with { TrainingData = TrainingData(trainDataPath, model.Manifest.Training, data) };
        AnsiConsole.MarkupLineInterpolated($"Evaluating [bold]{modelPath}[/] ({model.Manifest.Hyperparameters.Method} on {model.Manifest.Hyperparameters.Network}, scope {model.Manifest.Hyperparameters.Scope}) on {data.Source} ...");
        var report = ColdStartEvaluation.Run(model, modelPath, data, options, TimeProvider.System);
        Print(report);
        if (jsonPath is not null)
        {
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(report, JsonOutput.Options));
            AnsiConsole.MarkupLineInterpolated($"Wrote {jsonPath}");
        }

        return 0;
    }

    // The model's training folder: --train-data, else the folder the model records when it exists; the evaluated
    // folder itself when it is that data (the split then keeps its test users out).
    internal static Shared.Data.RatingsDataset? TrainingData(string? path, TrainingRecord record, Shared.Data.RatingsDataset evaluated)
    {
        if (path is null && (record.Data == evaluated.Source || !(Directory.Exists(record.Data) || record.Data.StartsWith("synthetic", StringComparison.Ordinal))))
        {
            return null;
        }

        var data = CommonOptions.LoadData(path ?? (record.Data.StartsWith("synthetic", StringComparison.Ordinal) ? "synthetic" : record.Data));
        return Shared.Data.RatingsFingerprint.Of(data) == record.DataFingerprint
            ? data
            : throw new ArgumentException($"--train-data: {data.Source} is not the data the model was trained on (fingerprint {Shared.Data.RatingsFingerprint.Of(data)}, the model records {record.DataFingerprint})");
    }

    private static void Print(EvaluationReport report)
    {
        AnsiConsole.MarkupLineInterpolated($"Users: {report.Users}; {report.Steps} local step(s); baselines fitted on {report.BaselinesFittedOn}");
        var ratings = new Table().AddColumns("rating prediction", "existing: users", "MAE", "(of expected)", "RMSE", "nDCG@3", "new: users", "MAE", "(of expected)", "RMSE", "nDCG@3");
        var lists = new Table().AddColumns("top-20 list", "existing: recall@10", "recall@20", "nDCG@20", "coverage", "overlap", "new: recall@10", "recall@20", "nDCG@20", "coverage", "overlap");
        string F(double? v, bool bold) => v is null ? "" : bold ? $"[bold]{v:F4}[/]" : $"{v:F4}";
        void Row(string name, BaselineMetrics? e, BaselineMetrics? n, bool bold = false)
        {
            string label = bold ? $"[bold]{name}[/]" : name;
            if (e?.Mae is not null || n?.Mae is not null)
            {
                ratings.AddRow(label, $"{e?.Users}", F(e?.Mae, bold), F(e?.MaeOfExpected, false), F(e?.Rmse, bold), F(e?.Ndcg3, bold), $"{n?.Users}", F(n?.Mae, bold), F(n?.MaeOfExpected, false), F(n?.Rmse, bold), F(n?.Ndcg3, bold));
            }

            if (e?.TopN is not null || n?.TopN is not null)
            {
                var (a, b) = (e?.TopN, n?.TopN);
                lists.AddRow(label, F(a?.Recall10, bold), F(a?.Recall20, bold), F(a?.Ndcg20, bold), F(a?.Coverage20, bold), F(a?.Overlap20, bold), F(b?.Recall10, bold), F(b?.Recall20, bold), F(b?.Ndcg20, bold), F(b?.Coverage20, bold), F(b?.Overlap20, bold));
            }
        }

        BaselineMetrics Of(PartitionMetrics m) => BaselineMetrics.Of(m, m.TopN);
        Row($"meta-model ({report.Algorithm}, {report.Steps} steps)", Of(report.ExistingItemsNewUsers), Of(report.NewItemsNewUsers), bold: true);
        foreach (var (name, pair) in report.Baselines)
        {
            Row(name, pair.ExistingItemsNewUsers, pair.NewItemsNewUsers);
        }

        AnsiConsole.Write(ratings);
        AnsiConsole.Write(lists);
        AnsiConsole.MarkupLine("MAE: of the whole stars a model's rating decoder reads off its expected ratings (the median: least absolute error), where it has one, with the MAE of the expected ratings themselves next to it; RMSE: of the expected ratings.");
        AnsiConsole.MarkupLine("Lists: recall and nDCG of the held-back query items rated >= 4; existing items ranked among every existing item the user has not rated, new items among new items only.");
    }
}

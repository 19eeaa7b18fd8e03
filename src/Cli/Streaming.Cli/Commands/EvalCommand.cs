using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Streaming.Shared.Evaluation;
using Streaming.Learning;
using Streaming.Learning.Evaluation;
using Streaming.Learning.Inputs;
using Streaming.Learning.Methods;
using Streaming.Learning.Models;
using Streaming.Learning.Networks;
using Streaming.Learning.Serving;
using Streaming.Learning.Training;
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
        var seed = CommonOptions.Seed();
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var command = new Command("eval", "Evaluate a model on users treated as brand-new (MeLU protocol), next to its baselines.")
        {
            data, model, steps, allUsers, seed, device, json,
        };
        command.SetAction(parse =>
        {
            var options = new EvaluationOptions { Steps = parse.GetValue(steps), Seed = parse.GetValue(seed), AllUsers = parse.GetValue(allUsers) };
            return Run(parse.GetValue(data)!, parse.GetValue(model)!, options, parse.GetValue(device)!, parse.GetValue(json));
        });
        return command;
    }

    public static int Run(string dataPath, string modelPath, EvaluationOptions options, string deviceName, string? jsonPath)
    {
        var device = TorchDevice.Resolve(deviceName, "--device");
        using var model = MetaModel.Load(modelPath, device);
        var data = CommonOptions.LoadData(dataPath);
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

    private static void Print(EvaluationReport report)
    {
        AnsiConsole.MarkupLineInterpolated($"Users: {report.Users}; {report.Steps} local step(s)");
        var table = new Table().AddColumns("method", "existing items: users", "MAE", "RMSE", "nDCG@3", "new items: users", "MAE", "RMSE", "nDCG@3");
        void Row(string name, PartitionMetrics e, PartitionMetrics n, bool bold = false)
        {
            string F(double v) => bold ? $"[bold]{v:F4}[/]" : $"{v:F4}";
            table.AddRow(bold ? $"[bold]{name}[/]" : name, $"{e.Users}", F(e.Mae), F(e.Rmse), F(e.Ndcg3), $"{n.Users}", F(n.Mae), F(n.Rmse), F(n.Ndcg3));
        }

        Row($"meta-model ({report.Algorithm}, {report.Steps} steps)", report.ExistingItemsNewUsers, report.NewItemsNewUsers, bold: true);
        foreach (var (name, pair) in report.Baselines)
        {
            Row(name, pair.ExistingItemsNewUsers, pair.NewItemsNewUsers);
        }

        AnsiConsole.Write(table);
    }
}

using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Streaming.Learning;
using Streaming.Learning.Evaluation;
using Streaming.Learning.Models;
using Streaming.Shared.Evaluation;

namespace Streaming.Cli.Commands;

/// <summary><c>streaming compare</c>: several model files on the same users and splits, with the baselines, in one run.</summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data(required: true);
        var models = new Option<string[]>("--models") { Description = "Model files written by 'streaming train' on the same data and split.", Required = true, AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.OneOrMore };
        var trainData = new Option<string?>("--train-data") { Description = "The models' training data folder, where the baselines are fitted (default: the folder the models record)." };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the tables as Markdown to this file." };
        var seed = CommonOptions.Seed();
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var command = new Command("compare", "Evaluate several models on the same new users (MeLU protocol and top-N), next to the baselines, in one run.")
        {
            data, models, trainData, markdown, seed, device, json,
        };
        command.SetAction(parse => Run(
            parse.GetValue(data)!, parse.GetValue(models)!, new EvaluationOptions { Seed = parse.GetValue(seed) }, parse.GetValue(device)!,
            parse.GetValue(json), parse.GetValue(markdown), parse.GetValue(trainData)));
        return command;
    }

    public static int Run(string dataPath, IReadOnlyList<string> modelPaths, EvaluationOptions options, string deviceName, string? jsonPath, string? markdownPath, string? trainDataPath)
    {
        var device = TorchDevice.Resolve(deviceName, "--device");
        var loaded = new List<(string Label, MetaModel Model)>();
        try
        {
            foreach (var path in modelPaths)
            {
                loaded.Add((Path.GetFileNameWithoutExtension(path), MetaModel.Load(path, device)));
            }

            var data = CommonOptions.LoadData(dataPath);
            options = options with { TrainingData = EvalCommand.TrainingData(trainDataPath, loaded[0].Model.Manifest.Training, data) };
            AnsiConsole.MarkupLineInterpolated($"Comparing {loaded.Count} model(s) on {data.Source} ...");
            var report = ModelComparison.Run(loaded, data, options, TimeProvider.System);
            var text = ModelComparison.Markdown(report);
            AnsiConsole.WriteLine(text);
            if (markdownPath is not null)
            {
                File.WriteAllText(markdownPath, text);
                AnsiConsole.MarkupLineInterpolated($"Wrote {markdownPath}");
            }

            if (jsonPath is not null)
            {
                File.WriteAllText(jsonPath, JsonSerializer.Serialize(report, JsonOutput.Options));
                AnsiConsole.MarkupLineInterpolated($"Wrote {jsonPath}");
            }

            return 0;
        }
        finally
        {
            foreach (var (_, model) in loaded)
            {
                model.Dispose();
            }
        }
    }
}

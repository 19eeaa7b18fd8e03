using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Streaming.Cli.Benchmarks;

namespace Streaming.Cli.Commands;

/// <summary><c>streaming bench ...</c>: speed figures, each next to a baseline measured in the same run.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Benchmarks: figures and ratios against a baseline measured in the same run.");
        command.Subcommands.Add(Adapt());
        return command;
    }

    private static Command Adapt()
    {
        var data = new Option<string?>("--data") { Description = "Data folder for the catalogue and support sets (default: ../shared/datasets/ml-1m when present, else synthetic)." };
        var model = new Option<string?>("--model") { Description = "Model file (default: a freshly initialised network of the default architecture; speed does not depend on the weights)." };
        var users = new Option<int>("--users") { Description = "New users to adapt in the batched run.", DefaultValueFactory = _ => 2048 };
        var loopUsers = new Option<int>("--loop-users") { Description = "Users for the per-user loop baseline.", DefaultValueFactory = _ => 64 };
        var batch = new Option<int>("--batch") { Description = "Users per batch.", DefaultValueFactory = _ => 64 };
        var steps = new Option<int>("--steps") { Description = "Local update steps.", DefaultValueFactory = _ => 5 };
        var scope = new Option<string?>("--scope") { Description = "Fast-weight scope of the fresh network (ignored with --model)." };
        var device = Commands.CommonOptions.Device();
        var json = Commands.CommonOptions.Json();
        var command = new Command("adapt", "Adapt new users and score the catalogue: batched vs a per-user loop; meta-training throughput.")
        {
            data, model, users, loopUsers, batch, steps, scope, device, json,
        };
        command.SetAction(parse =>
        {
            var settings = new AdaptationBenchmark.Settings(
                parse.GetValue(data), parse.GetValue(model), parse.GetValue(users), parse.GetValue(loopUsers),
                parse.GetValue(batch), parse.GetValue(steps), parse.GetValue(scope), parse.GetValue(device)!);
            var result = AdaptationBenchmark.Run(settings);
            if (parse.GetValue(json) is { } path)
            {
                File.WriteAllText(path, JsonSerializer.Serialize(result, JsonOutput.Options));
                AnsiConsole.MarkupLineInterpolated($"Wrote {path}");
            }

            return 0;
        });
        return command;
    }
}

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
        command.Subcommands.Add(EndToEnd());
        command.Subcommands.Add(Ingest());
        return command;
    }

    private static Command Ingest()
    {
        var events = new Option<int>("--events") { Description = "Interaction events in the backlog (the mock broker keeps 5 MB per partition, 20 MB in all: keep near the default).", DefaultValueFactory = _ => 100_000 };
        var users = new Option<int>("--users") { Description = "Distinct users they belong to.", DefaultValueFactory = _ => 10_000 };
        var wait = new Option<int>("--batch-wait-ms") { Description = "Ingest__MaxBatchWaitMs for the run (default: Ingest's own default; the demo uses 1).", DefaultValueFactory = _ => new Streaming.Ingest.IngestOptions().MaxBatchWaitMs };
        var json = Commands.CommonOptions.Json();
        var command = new Command("ingest", "Ingest's sustained events/s (idempotency on) next to the raw consume rate and the raw pipelined Redis rate, and the session writes alone through the Lua script and through plain pipelined commands, same run.")
        {
            events, users, wait, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new IngestBenchmark.Settings(parse.GetValue(events), parse.GetValue(users), parse.GetValue(wait));
            if (settings.Events < 1000 || settings.Users < 1 || settings.BatchWaitMs < 1)
            {
                throw new ArgumentException("--events must be at least 1,000, --users and --batch-wait-ms at least 1");
            }

            WriteJson(parse.GetValue(json), await IngestBenchmark.RunAsync(settings, cancellationToken));
            return 0;
        });
        return command;
    }

    private static Command EndToEnd()
    {
        var data = new Option<string?>("--data") { Description = "Data folder for the catalogue and the replayed users (default: ../shared/datasets/ml-1m when present, else synthetic)." };
        var model = new Option<string?>("--model") { Description = "Model file to serve (default: a one-epoch model trained here)." };
        var rate = new Option<double>("--rate") { Description = "New users arriving per second.", DefaultValueFactory = _ => 200 };
        var seconds = new Option<double>("--seconds") { Description = "How long each rate is measured.", DefaultValueFactory = _ => 15 };
        var findMax = new Option<bool>("--find-max") { Description = "Also double the rate from 50/s until p99 or completeness fails, and report the highest rate sustained." };
        var maxP99 = new Option<double>("--max-p99-ms") { Description = "The p99 a rate must keep to count as sustained (--find-max).", DefaultValueFactory = _ => 100 };
        var device = Commands.CommonOptions.Device();
        var json = Commands.CommonOptions.Json();
        var command = new Command("e2e", "New users at a fixed rate through the whole embedded pipeline: latency from the threshold-crossing event to its recommendation.")
        {
            data, model, rate, seconds, findMax, maxP99, device, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new EndToEndBenchmark.Settings(parse.GetValue(data), parse.GetValue(model), parse.GetValue(rate), parse.GetValue(seconds), parse.GetValue(findMax), parse.GetValue(maxP99), parse.GetValue(device)!);
            if (settings.Rate <= 0 || settings.Seconds <= 0)
            {
                throw new ArgumentException("--rate and --seconds must be above 0");
            }

            var result = await EndToEndBenchmark.RunAsync(settings, cancellationToken);
            WriteJson(parse.GetValue(json), result);
            return 0;
        });
        return command;
    }

    private static void WriteJson<T>(string? path, T result)
    {
        if (path is not null)
        {
            File.WriteAllText(path, JsonSerializer.Serialize(result, JsonOutput.Options));
            AnsiConsole.MarkupLineInterpolated($"Wrote {path}");
        }
    }

    private static Command Adapt()
    {
        var data = new Option<string?>("--data") { Description = "Data folder for the catalogue and support sets (default: ../shared/datasets/ml-1m when present, else synthetic)." };
        var model = new Option<string?>("--model") { Description = "Model file (default: a freshly initialised network of the default architecture; speed does not depend on the weights)." };
        var users = new Option<int>("--users") { Description = "New users to adapt in the batched run.", DefaultValueFactory = _ => 2048 };
        var loopUsers = new Option<int>("--loop-users") { Description = "Users for the per-user loop baseline.", DefaultValueFactory = _ => 64 };
        var batch = new Option<int>("--batch") { Description = "Users per batch.", DefaultValueFactory = _ => 64 };
        var steps = new Option<int?>("--steps") { Description = "Local update steps (default: the model's own)." };
        var scope = new Option<string?>("--scope") { Description = "Fast-weight scope of the fresh network (ignored with --model)." };
        var network = new Option<string?>("--network") { Description = $"Network of the fresh model (ignored with --model; default: {Learning.Training.TrainingRecipe.Default.Hyperparameters.Network}, the one 'streaming train' trains by default)." };
        var device = Commands.CommonOptions.Device();
        var json = Commands.CommonOptions.Json();
        var command = new Command("adapt", "Adapt new users and score the catalogue: batched vs a per-user loop; meta-training throughput.")
        {
            data, model, users, loopUsers, batch, steps, scope, network, device, json,
        };
        command.SetAction(parse =>
        {
            var settings = new AdaptationBenchmark.Settings(
                parse.GetValue(data), parse.GetValue(model), parse.GetValue(users), parse.GetValue(loopUsers),
                parse.GetValue(batch), parse.GetValue(steps), parse.GetValue(scope), parse.GetValue(network), parse.GetValue(device)!);
            WriteJson(parse.GetValue(json), AdaptationBenchmark.Run(settings));
            return 0;
        });
        return command;
    }
}

using System.CommandLine;
using Spectre.Console;
using Streaming.Learning;
using Streaming.Learning.Methods;
using Streaming.Learning.Training;
using Streaming.Shared.Models;
using Streaming.Shared.Registry;

namespace Streaming.Cli.Commands;

/// <summary><c>streaming train</c>: meta-trains a model on a data set's warm state.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data(required: true);
        var output = new Option<string>("--out") { Description = "Model file to write (checkpointed at every validation improvement).", Required = true };
        var recipe = TrainingRecipe.Default;
        var named = TrainingRecipe.Named(null, null);
        var network = new Option<string?>("--network") { Description = $"The network: {string.Join(", ", MethodCatalog.NetworkNames)} (default: {recipe.Hyperparameters.Network} with no --algo, else {named.Hyperparameters.Network})." };
        var algo = new Option<string?>("--algo") { Description = $"The meta-learning method: {string.Join(", ", MethodCatalog.MethodNames)} (default: {recipe.Hyperparameters.Method} with no --network, else {named.Hyperparameters.Method})." };
        var encoder = new Option<string?>("--encoder") { Description = $"The base network: {string.Join(", ", MethodCatalog.NetworkNames)}; combines with any --algo (same as --network)." };
        var steps = new Option<int?>("--steps") { Description = $"Local update steps (default: {recipe.Hyperparameters.InnerSteps} for the default recipe, {named.Hyperparameters.InnerSteps} with --network or --algo; MeLU-1: 1, MeLU-5: 5)." };
        var scope = new Option<string>("--scope") { Description = "Fast-weight scope: all, last, bias, lowrank or context.", DefaultValueFactory = _ => "all" };
        var rank = new Option<int>("--rank") { Description = "Rank of the per-user deltas (scope lowrank).", DefaultValueFactory = _ => 4 };
        var contextDim = new Option<int>("--context-dim") { Description = "Length of the per-user context vector (scope context).", DefaultValueFactory = _ => 32 };
        var epochs = new Option<int?>("--epochs") { Description = $"Maximum epochs (default: {recipe.Epochs} for the default recipe, {named.Epochs} with --network or --algo)." };
        var patience = new Option<int>("--patience") { Description = "Stop after this many epochs without a better validation MAE.", DefaultValueFactory = _ => 4 };
        var innerLr = new Option<float?>("--inner-lr") { Description = $"Inner learning rate, initial value of learned rates (default: {recipe.Hyperparameters.InnerLearningRate} for the default recipe, {named.Hyperparameters.InnerLearningRate} with --network or --algo)." };
        var metaLr = new Option<float?>("--meta-lr") { Description = $"Adam learning rate of the outer loop (default: {recipe.Hyperparameters.MetaLearningRate} for the default recipe, {named.Hyperparameters.MetaLearningRate} with --network or --algo)." };
        var textEncoder = new Option<string?>("--text-encoder") { Description = $"MML's text encoder: tfidf or minilm (default: {new Hyperparameters().TextEncoder})." };
        var tokenDropout = new Option<float>("--token-dropout") { Description = "Training-time probability of replacing a director, actor or zip token by 'unknown'.", DefaultValueFactory = _ => new Hyperparameters().TokenDropout };
        var batch = new Option<int>("--batch-size") { Description = "Users per meta-batch.", DefaultValueFactory = _ => 32 };
        var firstOrder = new Option<bool>("--first-order") { Description = "Drop the inner-loop Hessian (any algorithm)." };
        var pretrain = new Option<int>("--pretrain-epochs") { Description = "Plain regression epochs before meta-training (0: none).", DefaultValueFactory = _ => 0 };
        var fixedTasks = new Option<bool>("--fixed-tasks") { Description = "Keep each training user's protocol split every epoch (default: draw a new one each epoch)." };
        var plateau = new Option<double>("--plateau-decay") { Description = "Multiply the meta learning rate by this after an epoch without validation improvement (1: constant).", DefaultValueFactory = _ => 1.0 };
        var minCount = new Option<int>("--min-count") { Description = "Directors, actors and zip regions rarer than this in training map to 'unknown'.", DefaultValueFactory = _ => 2 };
        var maxUsers = new Option<int?>("--max-users") { Description = "Train on at most this many users (quick runs)." };
        var seed = CommonOptions.Seed();
        var device = CommonOptions.Device();
        var registry = ModelsCommand.RegistryOption(fromEnvironment: false);
        var (promote, canary, force) = ModelsCommand.RolloutOptions();

        var command = new Command("train", "Meta-train a model on the warm state of a data set (existing users x items released <= 1997).")
        {
            data, output, network, algo, encoder, textEncoder, steps, scope, rank, contextDim, epochs, patience, innerLr, metaLr, tokenDropout, batch, firstOrder, pretrain, fixedTasks, plateau, minCount, maxUsers, seed, device, registry, promote, canary, force,
        };
        command.SetAction(parse =>
        {
            // --encoder names a sequential base network (MELO's); --network any registered one. Naming neither a
            // network nor a method trains the default recipe; the settings given replace the recipe's.
            string? networkName = parse.GetValue(encoder) is { } sequential ? ParseNetwork(sequential, "--encoder")
                : parse.GetValue(network) is { } chosen ? ParseNetwork(chosen, "--network") : null;
            string? methodName = parse.GetValue(algo) is { } method ? CommonOptions.ParseMethod(method, "--algo") : null;
            var start = TrainingRecipe.For(networkName, methodName);
            var hyper = start.Hyperparameters with
            {
                Scope = CommonOptions.ParseEnum<FastWeightScope>(parse.GetValue(scope)!, "--scope"),
                InnerSteps = parse.GetValue(steps) ?? start.Hyperparameters.InnerSteps,
                Rank = parse.GetValue(rank),
                ContextDim = parse.GetValue(contextDim),
                InnerLearningRate = parse.GetValue(innerLr) ?? start.Hyperparameters.InnerLearningRate,
                MetaLearningRate = parse.GetValue(metaLr) ?? start.Hyperparameters.MetaLearningRate,
                MetaBatchSize = parse.GetValue(batch),
                TokenDropout = parse.GetValue(tokenDropout),
                TextEncoder = parse.GetValue(textEncoder) ?? start.Hyperparameters.TextEncoder,
            };
            hyper.Validate();
            var options = new TrainingOptions
            {
                Hyperparameters = hyper,
                Epochs = parse.GetValue(epochs) ?? start.Epochs,
                Patience = parse.GetValue(patience),
                Seed = parse.GetValue(seed),
                FirstOrder = parse.GetValue(firstOrder),
                PretrainEpochs = parse.GetValue(pretrain),
                MinTokenCount = parse.GetValue(minCount),
                PlateauDecay = parse.GetValue(plateau),
                ResampleTasks = !parse.GetValue(fixedTasks),
            };
            var push = parse.GetValue(registry) is { } target
                ? new ModelsCommand.RegistryPush(target, parse.GetValue(promote), parse.GetValue(canary), parse.GetValue(force))
                : parse.GetValue(promote) || parse.GetValue(canary) is not null
                    ? throw new ArgumentException("--promote and --canary need --registry")
                    : null;
            return Run(parse.GetValue(data)!, parse.GetValue(output)!, options, parse.GetValue(device)!, push, new DataSplit { MaxTrainUsers = parse.GetValue(maxUsers) });
        });
        return command;
    }

    internal static string ParseNetwork(string value, string option) =>
        MethodCatalog.NetworkNames.FirstOrDefault(n => string.Equals(n, value, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"{option}: '{value}' is not one of {string.Join(", ", MethodCatalog.NetworkNames)}");

    public static int Run(string dataPath, string outputPath, TrainingOptions options, string deviceName, ModelsCommand.RegistryPush? push = null, DataSplit? split = null)
    {
        push?.Validate();   // before training, not after it
        var device = TorchDevice.Resolve(deviceName, "--device");
        var time = TimeProvider.System;
        var loadStart = time.GetTimestamp();
        var data = CommonOptions.LoadData(dataPath);
        AnsiConsole.MarkupLineInterpolated($"Loaded [bold]{data.Source}[/]: {data.Users.Count:N0} users, {data.Items.Count:N0} items, {data.Ratings.Count:N0} ratings ({time.GetElapsedTime(loadStart).TotalSeconds:F1} s)");
        var h = options.Hyperparameters;
        AnsiConsole.MarkupLineInterpolated($"Training [bold]{h.Method}[/] on the [bold]{h.Network}[/] network ({(options.FirstOrder || !MethodCatalog.Method(h.Method).SecondOrder ? "first" : "second")} order), scope [bold]{h.Scope}[/], {h.InnerSteps} local step(s), on {device.type.ToString().ToLowerInvariant()}");

        TrainingResult? result = null;
        var checkpointPath = outputPath;
        var started = time.GetTimestamp();
        ProgressRendering.Run("meta-training", (report) =>
        {
            result = MetaTraining.Run(data, options, device, time, split, report, model => model.Save(checkpointPath));
        });

        var table = new Table().AddColumns("epoch", "train loss", "val users", "val MAE", "val RMSE", "val nDCG@3", "seconds");
        foreach (var e in result!.History)
        {
            table.AddRow($"{e.Epoch}", $"{e.TrainLoss:F4}", $"{e.Validation.Users}", $"{e.Validation.Mae:F4}", $"{e.Validation.Rmse:F4}", $"{e.Validation.Ndcg3:F4}", $"{e.Seconds:F1}");
        }

        AnsiConsole.Write(table);
        if (result.Fitted is { } fitted)
        {
            AnsiConsole.MarkupLineInterpolated($"Closed-form part: {fitted}");
        }

        if (result.Calibrated is { } calibrated)
        {
            AnsiConsole.MarkupLineInterpolated($"Served list: {calibrated}");
        }

        var written = result.Model.Save(outputPath);
        AnsiConsole.MarkupLineInterpolated($"Best epoch {written.Training.BestEpoch}: validation MAE {written.Validation?.Mae:F4}, nDCG@3 {written.Validation?.Ndcg3:F4}");
        AnsiConsole.MarkupLineInterpolated($"Meta-training throughput: [bold]{result.TasksPerSecond:F1} users/s[/]; total {time.GetElapsedTime(started).TotalSeconds:F1} s; per-user fast state {result.Model.Module.FastStateSize} values ({result.Model.Module.FastStateSize * 4} bytes as float32)");
        AnsiConsole.MarkupLineInterpolated($"Wrote [bold]{outputPath}[/] (sha256 of weights {written.WeightsSha256[..16]}...)");
        result.Model.Dispose();
        if (push is not null)
        {
            var source = new ModelPushOptions { Source = $"streaming train --data {dataPath}", Notes = $"trained into {Path.GetFullPath(outputPath)}" };
            ModelsCommand.PushAsync(AnsiConsole.Console, push, File.ReadAllBytes(outputPath), source).GetAwaiter().GetResult();
        }

        return 0;
    }
}

using System.CommandLine;
using Spectre.Console;
using Streaming.Shared.Data;
using Streaming.Shared.Learning;

namespace Streaming.Cli.Commands;

/// <summary>
/// <c>streaming demo</c>: the meta-learning core end to end on embedded defaults: synthetic users with
/// hidden tastes, a model meta-trained on the fly, and new users personalised from their first ratings.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var seed = CommonOptions.Seed();
        var epochs = new Option<int>("--epochs") { Description = "Meta-training epochs.", DefaultValueFactory = _ => 15 };
        var device = CommonOptions.Device();
        var command = new Command("demo", "Run the demo on embedded defaults (no files, no services needed).") { seed, epochs, device };
        command.SetAction(parse => Run(parse.GetValue(seed), parse.GetValue(epochs), parse.GetValue(device)!));
        return command;
    }

    private static int Run(int seed, int epochs, string deviceName)
    {
        var device = TorchDevice.Resolve(deviceName, "--device");
        AnsiConsole.Write(new Rule("[bold]Streaming demo: few-shot personalisation of brand-new users[/]"));
        AnsiConsole.MarkupLine("[yellow]Meta-learning core on [bold]synthetic data[/]:[/] users have hidden individual tastes that only their own ratings reveal.");
        AnsiConsole.MarkupLine("The model never sees the evaluated users in training; each is personalised from its first ratings alone.");
        AnsiConsole.WriteLine();

        var data = SyntheticDataset.Generate(new SyntheticOptions(Seed: seed));
        AnsiConsole.MarkupLineInterpolated($"1. Generated {data.Users.Count:N0} users, {data.Items.Count:N0} items, {data.Ratings.Count:N0} ratings ({data.Source}).");

        var options = new TrainingOptions
        {
            Hyperparameters = new Hyperparameters { Algorithm = MetaAlgorithm.MetaSgd, InnerSteps = 5, MetaLearningRate = 5e-3f },
            Epochs = epochs,
            Patience = 3,
            Seed = seed,
        };
        AnsiConsole.MarkupLineInterpolated($"2. Meta-training MetaSGD (MeLU network, 5 local steps) for up to {epochs} epochs on {device.type.ToString().ToLowerInvariant()}:");
        TrainingResult? result = null;
        ProgressRendering.Run("meta-training", progress => result = MetaTraining.Run(data, options, device, TimeProvider.System, progress));
        using var model = result!.Model;
        AnsiConsole.MarkupLineInterpolated($"   best validation MAE {model.Manifest.Validation?.Mae:F3} at epoch {model.Manifest.Training.BestEpoch}; {result.TasksPerSecond:F0} users/s");

        AnsiConsole.MarkupLine("3. Held-out new users, MeLU protocol (10 query ratings each), meta-model next to every baseline:");
        var report = ColdStartEvaluation.Run(model, "demo model", data, new EvaluationOptions { Seed = seed }, TimeProvider.System);
        var table = new Table().AddColumns("method", "users", "MAE", "RMSE", "nDCG@3");
        table.AddRow("[bold]meta-model, adapted (5 steps)[/]", $"{report.ExistingItemsNewUsers.Users}", $"[bold]{report.ExistingItemsNewUsers.Mae:F3}[/]", $"[bold]{report.ExistingItemsNewUsers.Rmse:F3}[/]", $"[bold]{report.ExistingItemsNewUsers.Ndcg3:F3}[/]");
        foreach (var (name, pair) in report.Baselines)
        {
            var m = pair.ExistingItemsNewUsers;
            table.AddRow(name.Replace('_', ' '), $"{m.Users}", $"{m.Mae:F3}", $"{m.Rmse:F3}", $"{m.Ndcg3:F3}");
        }

        AnsiConsole.Write(table);
        var unadapted = report.Baselines["meta_init_no_adaptation"].ExistingItemsNewUsers;
        AnsiConsole.MarkupLineInterpolated($"   Adaptation cut the error by [bold]{100 * (1 - (report.ExistingItemsNewUsers.Mae / unadapted.Mae)):F0}%[/] (MAE {unadapted.Mae:F3} -> {report.ExistingItemsNewUsers.Mae:F3}).");

        ShowUsers(model, data);
        return 0;
    }

    /// <summary>Two new users: what they rated first, and their top items before and after adaptation.</summary>
    private static void ShowUsers(MetaModel model, RatingsDataset data)
    {
        var record = model.Manifest.Training;
        var split = MeluProtocol.SplitUsers(data.Ratings.Select(r => r.UserId).Distinct(), record.ValidationFraction, record.TestFraction, record.SplitSeed);
        var tasks = MeluProtocol.ExistingItemsTasks(data, split.Test, seed: 1).Take(2).ToArray();
        using var recommender = new BatchRecommender(model, data.Items.Values);
        AnsiConsole.MarkupLine("4. Two of the new users, personalised from their first five ratings:");
        foreach (var task in tasks)
        {
            var profile = data.Users[task.UserId];
            var firstFive = task.Support.Take(5).ToArray();
            var session = new UserSession(profile, firstFive);
            var before = recommender.Recommend([session], steps: 0, topK: 5)[0];
            var after = recommender.Recommend([session], steps: 5, topK: 5)[0];
            string Describe(int itemId) => $"{data.Items[itemId].Title} ({string.Join("/", data.Items[itemId].Genres)})";
            var grid = new Table().AddColumns($"user {task.UserId} ({profile.Gender}, age {profile.Age}) rated", "top 5 before adaptation", "top 5 after adaptation");
            for (int i = 0; i < 5; i++)
            {
                grid.AddRow(
                    i < firstFive.Length ? $"{Describe(firstFive[i].ItemId)}: {firstFive[i].Value:F0}" : "",
                    i < before.Items.Count ? $"{Describe(before.Items[i].ItemId)} {before.Items[i].Score:F2}" : "",
                    i < after.Items.Count ? $"{Describe(after.Items[i].ItemId)} {after.Items[i].Score:F2}" : "");
            }

            AnsiConsole.Write(grid);
        }
    }
}

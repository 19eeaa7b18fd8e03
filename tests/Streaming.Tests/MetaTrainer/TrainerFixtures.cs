using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using Streaming.MetaTrainer;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Learning.Training;
using Streaming.Shared.Registry;
using Streaming.Shared.Sessions;
using Streaming.Tests.Learning;
using static TorchSharp.torch;

namespace Streaming.Tests.MetaTrainer;

/// <summary>
/// A quick parent model, trained once per test class on the built-in synthetic data set (whose items are the
/// "synthetic" catalogue the trainer is configured with), as the bytes of its model file.
/// </summary>
public sealed class ParentModelFixture
{
    public ParentModelFixture()
    {
        using var model = MetaTraining.Run(TrainerFixtures.Catalogue, LearningFixtures.QuickTraining(epochs: 1), CPU, TimeProvider.System, new DataSplit { MaxTrainUsers = 100 }).Model;
        string path = Path.Combine(Path.GetTempPath(), $"streaming-parent-{Guid.NewGuid():N}.model");
        model.Save(path);
        File = System.IO.File.ReadAllBytes(path);
        System.IO.File.Delete(path);
    }

    /// <summary>The model file.</summary>
    public byte[] File { get; }

    /// <summary>A new directory registry whose active version v1 is this model.</summary>
    public async Task<FileSystemModelRegistry> RegistryWithActiveParentAsync(string directory)
    {
        var registry = new FileSystemModelRegistry(directory);
        var pushed = await registry.PushAsync(File, new ModelPushOptions { Source = "test parent" });
        await registry.PromoteAsync(pushed.Version);
        return registry;
    }
}

/// <summary>Sessions, options and cycles for the MetaTrainer tests.</summary>
internal static class TrainerFixtures
{
    /// <summary>The built-in synthetic data set: its items are the "synthetic" catalogue.</summary>
    public static RatingsDataset Catalogue { get; } = SyntheticDataset.Generate(new SyntheticOptions());

    /// <summary>Options for a fast run: few held-out users needed, two epochs, CPU.</summary>
    public static MetaTrainerOptions QuickOptions(string registry) => new()
    {
        Registry = registry,
        Catalogue = "synthetic",
        MinEvaluationUsers = 20,
        Epochs = 2,
        Patience = 2,
        Device = "cpu",
        TimeBudgetMinutes = 5,
    };

    /// <summary>
    /// Writes users <paramref name="firstUser"/>.. of the synthetic data set through <see cref="RedisSessionStore"/>
    /// as user ids <c>u{id}</c>: each user's ratings in source order, one second apart, the last at
    /// <paramref name="newest"/>, the profile on the first event.
    /// </summary>
    public static async Task WriteSessionsAsync(IConnectionMultiplexer redis, string prefix, int users, DateTimeOffset newest, int firstUser = 1)
    {
        var store = new RedisSessionStore(redis, new SessionStoreOptions(), prefix);
        var interactions = new List<Interaction>();
        foreach (var user in Catalogue.Ratings.GroupBy(r => r.UserId).Where(g => g.Key >= firstUser).OrderBy(g => g.Key).Take(users))
        {
            var ratings = user.ToArray();
            var p = Catalogue.Users[user.Key];
            for (int i = 0; i < ratings.Length; i++)
            {
                interactions.Add(new Interaction(
                    $"{prefix}-{user.Key}-{i}",
                    $"u{user.Key}",
                    ratings[i].ItemId,
                    ratings[i].Value,
                    newest.AddSeconds(i - ratings.Length + 1),
                    i == 0 ? new ProfileFields { Gender = p.Gender, Age = p.Age, Occupation = p.Occupation, Zip = p.Zip } : null));
            }
        }

        foreach (var chunk in interactions.Chunk(2000))
        {
            await store.ApplyAsync(chunk);
        }
    }

    public static TrainingCycle Cycle(IConnectionMultiplexer redis, string prefix, MetaTrainerOptions options, TimeProvider? time = null) =>
        new(options, new SessionScanner(redis, new SessionStoreOptions(), prefix), $"test sessions ({prefix})", time ?? TimeProvider.System, NullLogger<TrainingCycle>.Instance);

    public static string NewPrefix() => "mt" + Guid.NewGuid().ToString("N")[..8];
}

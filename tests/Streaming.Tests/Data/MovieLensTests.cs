using System.Diagnostics;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;

namespace Streaming.Tests.Data;

/// <summary>Loads the real MovieLens-1M copy once for the tests that need it.</summary>
public sealed class MovieLensFixture
{
    public MovieLensFixture()
    {
        Directory = MovieLensLocator.Find();
        if (Directory is not null)
        {
            var watch = Stopwatch.StartNew();
            Data = DatasetLoader.Load(Directory);
            LoadTime = watch.Elapsed;
        }
    }

    public string? Directory { get; }

    public RatingsDataset? Data { get; }

    public TimeSpan LoadTime { get; }

    /// <summary>The data, or a skip (a failure on CI, where the data must be present).</summary>
    public RatingsDataset Require()
    {
        if (Data is not null)
        {
            return Data;
        }

        var message = "MovieLens-1M not found at shared/datasets/ml-1m above "
            + $"'{AppContext.BaseDirectory}' or '{Environment.CurrentDirectory}', nor in STREAMING_ML1M";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(message + "; CI requires it.");
        }

        Assert.Skip(message + "; skipped.");
        return null!;
    }
}

[Trait("Kind", "Unit")]
public sealed class MovieLensTests(MovieLensFixture fixture) : IClassFixture<MovieLensFixture>
{
    [Fact]
    public void Load_MovieLens_HasTheDocumentedCounts()
    {
        var data = fixture.Require();

        Assert.Equal(4832, data.Users.Count);
        Assert.Equal(797_900, data.Ratings.Count);
        Assert.Equal(4832, data.Ratings.Select(r => r.UserId).Distinct().Count());
        // This copy lists 3,881 movies and 3,687 of them are rated (the README's 3,706/3,704 do not match it).
        Assert.Equal(3881, data.Items.Count);
        Assert.Equal(3687, data.Ratings.Select(r => r.ItemId).Distinct().Count());
        Assert.All(data.Ratings, r => Assert.True(data.Items.ContainsKey(r.ItemId)));
        Assert.Equal("G", data.Items[1].Rate);
        Assert.Contains("Tom Hanks", data.Items[1].Actors);
        Assert.True(fixture.LoadTime < TimeSpan.FromSeconds(5), $"Loading took {fixture.LoadTime}.");
    }

    [Fact]
    public void WarmStateTasks_MovieLens_Deterministic13To100Ratings()
    {
        var data = fixture.Require();
        var split = MeluProtocol.SplitUsers(data.Users.Keys, 0.1, 0.1, seed: 1);

        var tasks = MeluProtocol.WarmStateTasks(data, split.Train, seed: 1);
        var again = MeluProtocol.WarmStateTasks(data, split.Train, seed: 1);

        Assert.NotEmpty(tasks);
        Assert.All(tasks, t => Assert.InRange(t.Support.Count + t.Query.Count, 13, 100));
        Assert.All(tasks, t => Assert.All(t.Query, r => Assert.True(data.Items[r.ItemId].Year <= 1997)));
        Assert.Equal(tasks.Select(t => t.Query[0]), again.Select(t => t.Query[0]));
        Assert.Equal(split.Test, MeluProtocol.SplitUsers(data.Users.Keys.Reverse(), 0.1, 0.1, seed: 1).Test);
        Assert.NotEmpty(MeluProtocol.NewItemsTasks(data, split.Test, seed: 1));

        var metrics = Evaluator.Evaluate(new SupportMeanPredictor(3.6f), tasks);
        Assert.InRange(metrics.Mae, 0.5, 1.2);
    }
}

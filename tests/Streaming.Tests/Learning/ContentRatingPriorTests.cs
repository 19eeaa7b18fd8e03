using Streaming.Learning.Inputs;
using Streaming.Learning.Networks.Mml;
using Streaming.Shared.Data;
using Xunit;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class ContentRatingPriorTests
{
    // 20 films by "Good" rated 4 and 5, 20 by "Bad" rated 1 and 2, one by "Solo" rated 5. Every film has its own MPAA
    // rate, genre and actor, so that the director alone says something.
    private static readonly ItemInfo[] Training =
    [
        .. Enumerable.Range(1, 20).Select(i => Film(i, "Good")),
        .. Enumerable.Range(21, 20).Select(i => Film(i, "Bad")),
        Film(41, "Solo"),
    ];

    [Fact]
    public void Fit_DirectorsWhoseFilmsAreRatedAlike_GiveTheirNewFilmsThatDeviation()
    {
        using var d = NewDisposeScope();
        var (prior, features) = Fitted();
        var table = features.EncodeItems([Film(100, "Good"), Film(101, "Bad")]);
        using var items = new ItemFeatureTensors(table, CPU);
        var predicted = prior.Predict(items, zeros(2, dtype: int64)).data<float>().ToArray();

        // By hand, taking the mean as 3 (it is 3.05 with Solo's ten 5s): a Good film deviates +1.5, so "Good" is
        // 20 * 10 * 1.5 / (200 + 30) = 1.30, and 1.30 left one out too; each film's target is its shrunk deviation
        // 15 / (10 + 5) = 1.0, so the director's weight is about 1 / 1.3 and a new Good film gets about +1.
        Assert.InRange(predicted[0], 0.85, 1.1);
        Assert.InRange(predicted[1], -1.1, -0.85);
    }

    [Fact]
    public void Predict_ATrainingFilmWithItsIdentity_LeavesItsOwnRatingsOut()
    {
        using var d = NewDisposeScope();
        var (prior, features) = Fitted();
        var table = features.EncodeItems([Film(41, "Solo"), Film(102, "Nobody")]);
        using var items = new ItemFeatureTensors(table, CPU);
        var identity = tensor(new long[] { features.ItemIdIndex(41), 0 });
        var withIdentity = prior.Predict(items, identity).data<float>().ToArray();
        var asNew = prior.Predict(items, zeros(2, dtype: int64)).data<float>().ToArray();

        // Solo's only film is rated 5 ten times. Scored as itself, "Solo" has no other film: the prior knows no more
        // than for a director nobody has seen. Scored as a new film by Solo, it borrows that film's ratings.
        Assert.Equal(asNew[1], withIdentity[0], 1e-5);
        Assert.True(asNew[0] > withIdentity[0] + 0.1, $"{asNew[0]} against {withIdentity[0]}");
    }

    [Fact]
    public void Fit_FilmsWithMoreRatingsThanTheShrinkage_AndPaddedSlots_GiveFinitePriors()
    {
        using var d = NewDisposeScope();
        // A second actor on one film pads every other film's actor slots with the unknown value, which has no ratings:
        // leaving a film's own 30 ratings out of its padding once divided 0 by 0 - 30 + 30.
        var training = Training.Append(Film(42, "Good") with { Actors = ["Actor 42", "Actor 43"] }).ToArray();
        var (prior, features) = Fitted(training, raters: (int)ContentRatingPrior.Shrinkage);
        var table = features.EncodeItems(training);
        using var items = new ItemFeatureTensors(table, CPU);
        var identity = tensor(table.ItemIds.Select(id => (long)features.ItemIdIndex(id)).ToArray());

        Assert.True(prior.Predict(items, identity).isfinite().all().item<bool>());
        Assert.True(prior.Predict(items, zeros(table.Count, dtype: int64)).isfinite().all().item<bool>());
    }

    private static (ContentRatingPrior Prior, FeatureSpace Features) Fitted() => Fitted(Training, raters: 10);

    private static (ContentRatingPrior Prior, FeatureSpace Features) Fitted(ItemInfo[] training, int raters)
    {
        var features = FeatureSpace.Build(training, [UserProfile.Unknown], minCount: 1);
        var ratings = training.SelectMany(item => Enumerable.Range(0, raters).Select(u => new Rating(u, item.ItemId, Score(item, u)))).ToArray();
        var tasks = ratings.GroupBy(r => r.UserId).Select(g => new UserTask(g.Key, [.. g], [])).ToArray();
        var prior = new ContentRatingPrior(features);
        prior.Fit(tasks, features.EncodeItems(training), id => features.ItemIdIndex(id));
        return (prior, features);
    }

    private static float Score(ItemInfo item, int user) => item.Directors[0] switch
    {
        "Good" => 4 + (user % 2),
        "Bad" => 1 + (user % 2),
        _ => 5,
    };

    private static ItemInfo Film(int id, string director) => new(id, $"Film {id}", 1990, $"Rate {id}", [$"Genre {id}"], [director], [$"Actor {id}"]);
}

using Streaming.Shared.Data;

namespace Streaming.Tests.Data;

[Trait("Kind", "Unit")]
public sealed class MeluProtocolTests
{
    private static readonly ProtocolOptions Options = ProtocolOptions.Default;

    /// <summary>Users 1..5 with 5, 13, 40, 100, 101 ratings on old items, and user 6 with 20 on new items.</summary>
    private static RatingsDataset Fixture()
    {
        var items = new Dictionary<int, ItemInfo>();
        for (var id = 1; id <= 120; id++)
        {
            items[id] = new ItemInfo(id, $"Old {id}", 1990, "", [], [], []);
        }

        for (var id = 201; id <= 230; id++)
        {
            items[id] = new ItemInfo(id, $"New {id}", 1999, "", [], [], []);
        }

        items[300] = new ItemInfo(300, "No year", null, "", [], [], []);
        var ratings = new List<Rating>();
        int[] counts = [5, 13, 40, 100, 101];
        for (var u = 0; u < counts.Length; u++)
        {
            for (var i = 0; i < counts[u]; i++)
            {
                ratings.Add(new Rating(u + 1, i + 1, 1 + (i % 5)));
            }

            ratings.Add(new Rating(u + 1, 300, 3)); // unknown year: in neither partition
            ratings.Add(new Rating(u + 1, 999, 3)); // unknown item: dropped
        }

        for (var i = 0; i < 20; i++)
        {
            ratings.Add(new Rating(6, 201 + i, 1 + (i % 5)));
        }

        var users = Enumerable.Range(1, 6).ToDictionary(u => u, _ => UserProfile.Unknown);
        return new RatingsDataset("fixture", users, items, ratings);
    }

    [Fact]
    public void WarmStateTasks_Fixture_KeepsUsersWith13To100Ratings()
    {
        var tasks = MeluProtocol.WarmStateTasks(Fixture(), [5, 4, 3, 2, 1, 6], seed: 1, Options);

        Assert.Equal([2, 3, 4], tasks.Select(t => t.UserId));
        Assert.All(tasks, t => Assert.Equal(10, t.Query.Count));
        Assert.Equal([3, 30, 90], tasks.Select(t => t.Support.Count));
    }

    [Fact]
    public void WarmStateRatings_Fixture_KeepsEveryExistingItemRatingOfTheUsersWhateverTheirCount()
    {
        var data = Fixture();
        var ratings = MeluProtocol.WarmStateRatings(data, [1, 5, 6], Options);

        // User 1 (5 ratings) and user 5 (101) are no tasks, but what they rated is kept; user 6 rated new items only;
        // the unknown-year and unknown items are in no partition.
        var expected = data.Ratings.Where(r => r.UserId is 1 or 5 && r.ItemId <= 120);
        Assert.Equal(expected, ratings);
        Assert.Equal(106, ratings.Count);
    }

    [Fact]
    public void BuildTasks_SupportPlusQuery_IsTheUsersFilteredRatings()
    {
        var data = Fixture();
        var task = Assert.Single(MeluProtocol.WarmStateTasks(data, [3], seed: 5, Options));

        var expected = data.Ratings.Where(r => r.UserId == 3 && r.ItemId <= 120).OrderBy(r => r.ItemId);
        Assert.Equal(expected, task.Support.Concat(task.Query).OrderBy(r => r.ItemId));
    }

    [Fact]
    public void BuildTasks_SameSeed_SameTasks_OtherSeed_OtherOrder()
    {
        var data = Fixture();
        var a = MeluProtocol.WarmStateTasks(data, [2, 3, 4], seed: 42, Options);
        var b = MeluProtocol.WarmStateTasks(data, [2, 3, 4], seed: 42, Options);
        var c = MeluProtocol.WarmStateTasks(data, [2, 3, 4], seed: 43, Options);

        Assert.Equal(Flatten(a), Flatten(b));
        Assert.NotEqual(Flatten(a), Flatten(c));
    }

    [Fact]
    public void BuildTasks_UserAlone_GetsTheSameSplitAsInAGroup()
    {
        var data = Fixture();
        var alone = Assert.Single(MeluProtocol.WarmStateTasks(data, [3], seed: 9, Options));
        var grouped = MeluProtocol.WarmStateTasks(data, [1, 2, 3, 4, 5], seed: 9, Options).Single(t => t.UserId == 3);

        Assert.Equal(alone.Support, grouped.Support);
        Assert.Equal(alone.Query, grouped.Query);
    }

    [Fact]
    public void NewItemsTasks_Fixture_UsesOnlyItemsAfter1997()
    {
        var data = Fixture();
        var tasks = MeluProtocol.NewItemsTasks(data, [1, 2, 3, 4, 5, 6], seed: 1, Options);

        var task = Assert.Single(tasks);
        Assert.Equal(6, task.UserId);
        Assert.All(task.Support.Concat(task.Query), r => Assert.True(data.Items[r.ItemId].Year > 1997));
    }

    [Fact]
    public void IsExistingItem_ByYear_SplitsAt1997AndRejectsUnknownYear()
    {
        Assert.True(MeluProtocol.IsExistingItem(new ItemInfo(1, "", 1997, "", [], [], []), Options));
        Assert.False(MeluProtocol.IsExistingItem(new ItemInfo(1, "", 1998, "", [], [], []), Options));
        Assert.False(MeluProtocol.IsExistingItem(new ItemInfo(1, "", null, "", [], [], []), Options));
    }

    [Fact]
    public void SplitUsers_SameSeed_DeterministicDisjointSortedAndComplete()
    {
        var ids = Enumerable.Range(1, 1000).ToArray();
        var a = MeluProtocol.SplitUsers(ids, 0.1, 0.2, seed: 3);
        var b = MeluProtocol.SplitUsers(ids.Reverse(), 0.1, 0.2, seed: 3);
        var c = MeluProtocol.SplitUsers(ids, 0.1, 0.2, seed: 4);

        Assert.Equal(a.Train, b.Train);
        Assert.Equal(a.Validation, b.Validation);
        Assert.Equal(a.Test, b.Test);
        Assert.NotEqual(a.Test, c.Test);
        Assert.Equal(100, a.Validation.Count);
        Assert.Equal(200, a.Test.Count);
        Assert.Equal(ids, a.Train.Concat(a.Validation).Concat(a.Test).Order());
        Assert.Equal(a.Train.Order(), a.Train);
        Assert.Equal(a.Test.Order(), a.Test);
    }

    private static List<Rating> Flatten(IEnumerable<UserTask> tasks) =>
        tasks.SelectMany(t => t.Support.Concat(t.Query)).ToList();
}

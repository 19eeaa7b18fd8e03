using Streaming.Shared.Data;

namespace Streaming.Tests.Data;

[Trait("Kind", "Unit")]
public sealed class SupportOrderTests
{
    [Fact]
    public void BuildTasks_SupportSet_KeepsTheUsersSourceOrder()
    {
        var data = SyntheticDataset.Generate(new SyntheticOptions(Users: 40, Items: 120, Seed: 3));
        var tasks = MeluProtocol.WarmStateTasks(data, data.Users.Keys, seed: 1);
        Assert.NotEmpty(tasks);

        foreach (var task in tasks)
        {
            // Position of each rating in the file, within the user.
            var position = data.Ratings.Where(r => r.UserId == task.UserId).Select((r, i) => (r.ItemId, i)).ToDictionary(p => p.ItemId, p => p.i);
            var support = task.Support.Select(r => position[r.ItemId]).ToArray();
            Assert.Equal(support.Order(), support);
        }
    }

    [Fact]
    public void BuildTasks_QuerySet_IsStillTheSeededDraw()
    {
        var data = SyntheticDataset.Generate(new SyntheticOptions(Users: 40, Items: 120, Seed: 3));
        var a = MeluProtocol.WarmStateTasks(data, data.Users.Keys, seed: 1);
        var b = MeluProtocol.WarmStateTasks(data, data.Users.Keys, seed: 2);

        Assert.Equal(a.Select(t => t.Query.Count), b.Select(t => t.Query.Count));
        Assert.Contains(a.Zip(b), p => !p.First.Query.Select(r => r.ItemId).Order().SequenceEqual(p.Second.Query.Select(r => r.ItemId).Order()));
    }
}

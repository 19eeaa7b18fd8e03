using Streaming.Shared.Data;

namespace Streaming.Tests.Data;

[Trait("Kind", "Unit")]
public sealed class SyntheticDatasetTests
{
    [Fact]
    public void Generate_SameSeed_SameData_OtherSeed_OtherData()
    {
        var a = SyntheticDataset.Generate(new SyntheticOptions(Users: 100, Items: 80));
        var b = SyntheticDataset.Generate(new SyntheticOptions(Users: 100, Items: 80));
        var c = SyntheticDataset.Generate(new SyntheticOptions(Users: 100, Items: 80, Seed: 8));

        Assert.Equal(a.Ratings, b.Ratings);
        Assert.Equal(a.Users.OrderBy(p => p.Key), b.Users.OrderBy(p => p.Key));
        Assert.Equal(a.Items[5].Actors, b.Items[5].Actors);
        Assert.NotEqual(a.Ratings, c.Ratings);
        Assert.Equal("synthetic(seed=7)", a.Source);
    }

    [Fact]
    public void Generate_Defaults_RatingsSpreadOver1To5WithBoundedCounts()
    {
        var o = new SyntheticOptions();
        var data = SyntheticDataset.Generate(o);

        var values = data.Ratings.Select(r => (double)r.Value).ToArray();
        var mean = values.Average();
        var std = Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));
        Assert.All(values, v => Assert.InRange(v, 1, 5));
        Assert.Equal(5, values.Distinct().Count());
        Assert.InRange(mean, 3.0, 4.0);
        Assert.InRange(std, 0.8, 1.3);
        foreach (var group in data.Ratings.GroupBy(r => r.UserId))
        {
            Assert.InRange(group.Count(), o.MinRatingsPerUser, o.MaxRatingsPerUser);
            Assert.Equal(group.Count(), group.Select(r => r.ItemId).Distinct().Count());
        }

        Assert.Equal(o.Users, data.Users.Count);
        Assert.Equal(75, data.Items.Values.Count(i => i.Year > 1997));
        Assert.All(data.Users.Values, u => Assert.Matches("^[0-9]{5}$", u.Zip));
    }
}

using Streaming.Shared.Registry;

namespace Streaming.Tests.Registry;

[Trait("Kind", "Unit")]
public sealed class CanarySplitTests
{
    private static readonly string[] Users = Enumerable.Range(0, 20_000).Select(i => $"u-{i}").ToArray();

    [Theory]
    [InlineData(1.0)]
    [InlineData(5.0)]
    [InlineData(10.0)]
    [InlineData(33.3)]
    [InlineData(50.0)]
    public void IsCanary_TwentyThousandSequentialIds_ShareIsWithinOneAndAHalfPointsOfThePercentage(double percent)
    {
        foreach (string? salt in new[] { null, "v7" })
        {
            double share = 100.0 * Users.Count(u => CanarySplit.IsCanary(u, percent, salt)) / Users.Length;
            Assert.InRange(share, percent - 1.5, percent + 1.5);
        }
    }

    [Fact]
    public void Bucket_IsStableAcrossCallsProcessesAndReleases()
    {
        // Pinned values: a change of the hash would move users between versions in a running rollout.
        Assert.Equal(CanarySplit.Bucket("u-1842"), CanarySplit.Bucket(new string("u-1842".ToCharArray())));
        Assert.Equal(PinnedBuckets, new[] { "u-1842", "1", "", "ünïcødé-user" }.Select(u => CanarySplit.Bucket(u)).ToArray());
        Assert.Equal(PinnedSaltedBucket, CanarySplit.Bucket("u-1842", "v7"));
    }

    [Fact]
    public void IsCanary_RaisingThePercentage_OnlyAddsUsers()
    {
        var at5 = Users.Where(u => CanarySplit.IsCanary(u, 5, "v3")).ToHashSet();
        var at20 = Users.Where(u => CanarySplit.IsCanary(u, 20, "v3")).ToHashSet();

        Assert.Subset(at20, at5);
        Assert.True(at20.Count > 3 * at5.Count);
    }

    [Fact]
    public void IsCanary_DifferentSalts_PickDifferentUsers()
    {
        var a = Users.Where(u => CanarySplit.IsCanary(u, 10, "v3")).ToHashSet();
        var b = Users.Where(u => CanarySplit.IsCanary(u, 10, "v4")).ToHashSet();

        // Independent 10 % samples overlap by about 1 % of users, not 10 %.
        Assert.InRange(a.Intersect(b).Count(), 0.005 * Users.Length, 0.02 * Users.Length);
    }

    [Fact]
    public void IsCanary_ZeroAndHundredPercent_AreNobodyAndEverybody()
    {
        Assert.DoesNotContain(Users, u => CanarySplit.IsCanary(u, 0));
        Assert.All(Users, u => Assert.True(CanarySplit.IsCanary(u, 100)));
    }

    [Fact]
    public void VersionFor_SplitsBetweenCanaryAndActive()
    {
        var routing = new ModelRouting { Active = "v1", Canary = "v2", CanaryPercent = 10 };

        var versions = Users.Select(routing.VersionFor).ToArray();

        Assert.Equal(["v1", "v2"], versions.Distinct().Order());
        Assert.Equal(Users.Count(u => CanarySplit.IsCanary(u, 10, "v2")), versions.Count(v => v == "v2"));
        Assert.Equal("v1", new ModelRouting { Active = "v1" }.VersionFor("anyone"));
        Assert.Null(ModelRouting.Empty.VersionFor("anyone"));
    }

    // Computed independently (Python: FNV-1a 64 over salt, NUL, user id; MurmurHash3 fmix64; mod 10,000).
    private static readonly int[] PinnedBuckets = [9813, 6018, 2267, 8114];

    private const int PinnedSaltedBucket = 5757;
}

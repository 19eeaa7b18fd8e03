using Streaming.Shared.Data;
using Xunit;

namespace Streaming.Tests.Data;

public sealed class FeatureSpaceItemIdentityTests
{
    private static readonly ItemInfo[] Training =
    [
        new(10, "A", 1990, "PG", ["Drama"], ["D"], ["X"]),
        new(2, "B", 1991, "R", ["Comedy"], ["E"], ["Y"]),
    ];

    [Fact]
    public void Build_TrainingItems_HaveIdentities_OthersAreUnknown()
    {
        var space = FeatureSpace.Build(Training, [UserProfile.Unknown]);

        Assert.Equal(3, space.ItemIds.Size);
        Assert.NotEqual(FeatureVocabulary.Unknown, space.ItemIdIndex(10));
        Assert.NotEqual(space.ItemIdIndex(2), space.ItemIdIndex(10));
        Assert.Equal(FeatureVocabulary.Unknown, space.ItemIdIndex(99));
    }

    [Fact]
    public void ToJsonFromJson_RoundTripsTheIdentities()
    {
        var space = FeatureSpace.Build(Training, [UserProfile.Unknown]);

        var restored = FeatureSpace.FromJson(space.ToJson());

        Assert.Equal(space.ItemIds.Tokens, restored.ItemIds.Tokens);
        Assert.Equal(space.ItemIdIndex(10), restored.ItemIdIndex(10));
    }

    [Fact]
    public void FromJson_WrittenWithoutIdentities_LoadsWithEveryItemUnknown()
    {
        var json = FeatureSpace.Build(Training, [UserProfile.Unknown]).ToJson().Replace(",\"item\":[\"10\",\"2\"]", "", StringComparison.Ordinal);
        Assert.DoesNotContain("\"item\"", json, StringComparison.Ordinal);

        var restored = FeatureSpace.FromJson(json);

        Assert.Equal(1, restored.ItemIds.Size);
        Assert.Equal(FeatureVocabulary.Unknown, restored.ItemIdIndex(10));
    }
}

using Streaming.Shared.Data;

namespace Streaming.Tests.Data;

[Trait("Kind", "Unit")]
public sealed class FeatureSpaceTests
{
    private static readonly ItemInfo[] Items =
    [
        new(1, "A", 1990, "PG", ["Drama", "Comedy"], ["Dir A"], ["Actor 1", "Actor 2", "Actor 3"]),
        new(2, "B", 1995, "R", ["Horror"], ["Dir B"], ["Actor 2"]),
    ];

    private static readonly UserProfile[] Users =
    [
        new("F", "25", "10", "48067"),
        new("M", "56", "16", "70072-1234"),
    ];

    [Fact]
    public void Build_ActorsInFewerItemsThanMinCount_MapToUnknown()
    {
        var space = FeatureSpace.Build(Items, Users, minCount: 2);

        Assert.Equal(["Actor 2"], space.Actor.Tokens);
        Assert.Equal(FeatureVocabulary.Unknown, space.Actor.IndexOf("Actor 1"));
        Assert.Empty(space.Director.Tokens);
        Assert.Equal(["Comedy", "Drama", "Horror"], space.Genre.Tokens);
    }

    [Fact]
    public void Build_TrainingData_IndexesTokensSortedFromOne()
    {
        var space = FeatureSpace.Build(Items, Users);

        Assert.Equal(["Comedy", "Drama", "Horror"], space.Genre.Tokens);
        Assert.Equal(1, space.Genre.IndexOf("Comedy"));
        Assert.Equal(4, space.Genre.Size);
        Assert.Equal(["rate", "genre", "director", "actor", "gender", "age", "occupation", "zip"], space.Vocabularies.Select(v => v.Name));
    }

    [Fact]
    public void EncodeUser_NewZipInKnownRegion_UsesZip3_UnknownRegionMapsToZero()
    {
        var space = FeatureSpace.Build(Items, Users, minCount: 1);

        Assert.Equal(["480", "700"], space.Zip.Tokens);
        var known = space.EncodeUser(new UserProfile("F", "25", "10", "48099"));
        var unseen = space.EncodeUser(new UserProfile("X", "", "99", "99999"));

        Assert.Equal([space.Gender.IndexOf("F"), space.Age.IndexOf("25"), space.Occupation.IndexOf("10"), space.Zip.IndexOf("480")], known);
        Assert.Equal([0L, 0L, 0L, 0L], unseen);
        Assert.Equal("480", FeatureSpace.ZipToken(" 48067 "));
        Assert.Equal("", FeatureSpace.ZipToken(""));
    }

    [Fact]
    public void EncodeItems_UnseenActorAndEmptyLists_MapToUnknownAndWeightsSumToOne()
    {
        var space = FeatureSpace.Build(Items, Users);
        ItemInfo[] serving =
        [
            Items[0],
            new(7, "New", 1999, "G", ["Drama"], [], ["Actor 2", "Brand New Actor"]),
        ];

        var table = space.EncodeItems(serving);

        Assert.Equal(2, table.Count);
        Assert.True(table.TryGetRow(7, out var row));
        Assert.Equal(1, row);
        Assert.False(table.TryGetRow(2, out _));
        Assert.Equal(0L, table.Rate[1]); // "G" was never seen in training.
        Assert.Equal(3, table.Actors.Width);
        Assert.Equal([space.Actor.IndexOf("Actor 2"), 0L, 0L], table.Actors.Indices[3..6]);
        Assert.Equal([0.5f, 0.5f, 0f], table.Actors.Weights[3..6]);
        Assert.Equal([0L], table.Directors.Indices[1..2]);
        Assert.Equal([1f], table.Directors.Weights[1..2]);
        foreach (var feature in new[] { table.Genres, table.Directors, table.Actors })
        {
            for (var r = 0; r < table.Count; r++)
            {
                Assert.Equal(1f, feature.Weights.AsSpan(r * feature.Width, feature.Width).ToArray().Sum(), 5);
            }
        }
    }

    [Fact]
    public void EncodeItems_ManyActors_CapsWidthAt16()
    {
        var actors = Enumerable.Range(0, 30).Select(i => $"A{i}").ToArray();
        var space = FeatureSpace.Build([new ItemInfo(1, "", 1990, "", [], [], actors)], Users);

        var table = space.EncodeItems([new ItemInfo(1, "", 1990, "", [], [], actors)]);

        Assert.Equal(FeatureSpace.MaxValuesPerItem, table.Actors.Width);
        Assert.All(table.Actors.Weights, w => Assert.Equal(1f / 16, w));
    }

    [Fact]
    public void FromJson_RoundTrip_PreservesAllIndices()
    {
        var space = FeatureSpace.Build(Items, Users);

        var restored = FeatureSpace.FromJson(space.ToJson());

        Assert.Equal(space.Vocabularies.Select(v => (v.Name, string.Join("|", v.Tokens))), restored.Vocabularies.Select(v => (v.Name, string.Join("|", v.Tokens))));
        var a = space.EncodeItems(Items);
        var b = restored.EncodeItems(Items);
        Assert.Equal(a.Actors.Indices, b.Actors.Indices);
        Assert.Equal(a.Rate, b.Rate);
        Assert.Equal(space.EncodeUser(Users[1]), restored.EncodeUser(Users[1]));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"version\":1}")]
    [InlineData("{\"version\":1,\"vocabularies\":{\"rate\":[]}}")]
    [InlineData("{\"version\":2,\"vocabularies\":{}}")]
    public void FromJson_BadJson_ThrowsInvalidData(string json)
    {
        var e = Assert.Throws<InvalidDataException>(() => FeatureSpace.FromJson(json));

        Assert.Contains("Feature space JSON", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromJson_DuplicateToken_ThrowsInvalidData()
    {
        var json = FeatureSpace.Build(Items, Users).ToJson().Replace("\"Horror\"", "\"Drama\"", StringComparison.Ordinal);

        Assert.Throws<InvalidDataException>(() => FeatureSpace.FromJson(json));
    }
}

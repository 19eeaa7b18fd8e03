using Streaming.Shared.Data;
using Streaming.Tests.Data;
using Streaming.Text;

namespace Streaming.Tests.Text;

[Trait("Kind", "Unit")]
public sealed class ItemTextVectorsTests : IDisposable
{
    private readonly TempFolder folder = new();
    private readonly HashedTfIdfEncoder tfidf;

    public ItemTextVectorsTests()
    {
        tfidf = HashedTfIdfEncoder.Fit(Catalogue().Select(ItemText.Of), dimension: 64);
        CacheFile = Path.Combine(folder.Path, "item-text.tfidf.vectors");
    }

    private string CacheFile { get; }

    public void Dispose() => folder.Dispose();

    [Fact]
    public void Build_WithoutCache_EncodesEveryItemOnce_AndWritesTheCache()
    {
        var encoder = new CountingEncoder(tfidf);

        var vectors = ItemTextVectors.Build(encoder, Catalogue(), CacheFile);

        Assert.Equal(3, encoder.Texts);
        Assert.Equal(3, vectors.EncodedCount);
        Assert.Null(vectors.CacheProblem);
        Assert.True(File.Exists(CacheFile));
        Assert.Equal([1, 2, 3], vectors.ItemIds.Order());
        Assert.Equal("tfidf", vectors.Encoder);
        Assert.Equal(64, vectors.Dimension);
        Assert.True(vectors.TryGet(2, out var heat));
        Assert.Equal(tfidf.Encode([ItemText.Of(Catalogue()[1])])[0], heat);
        Assert.False(vectors.TryGet(99, out _));
    }

    [Fact]
    public void Build_SecondTime_EncodesNothing_AndReadsTheSameVectors()
    {
        var first = ItemTextVectors.Build(tfidf, Catalogue(), CacheFile);
        var written = File.GetLastWriteTimeUtc(CacheFile);
        var encoder = new CountingEncoder(tfidf);

        var second = ItemTextVectors.Build(encoder, Catalogue(), CacheFile);

        Assert.Equal(0, encoder.Calls);
        Assert.Equal(0, second.EncodedCount);
        Assert.Null(second.CacheProblem);
        Assert.Equal(written, File.GetLastWriteTimeUtc(CacheFile));
        foreach (var id in first.ItemIds)
        {
            Assert.True(first.TryGet(id, out var a));
            Assert.True(second.TryGet(id, out var b));
            Assert.Equal(a, b);
        }
    }

    [Fact]
    public void Build_NewItem_EncodesOnlyThatItem_AndCachesIt()
    {
        ItemTextVectors.Build(tfidf, Catalogue(), CacheFile);
        var encoder = new CountingEncoder(tfidf);
        var newItem = Item(4, "Jumanji", "Adventure", "Children find a magical board game.");

        var vectors = ItemTextVectors.Build(encoder, [.. Catalogue(), newItem], CacheFile);

        Assert.Equal([ItemText.Of(newItem)], encoder.Seen);
        Assert.Equal(1, vectors.EncodedCount);
        Assert.Equal(4, vectors.ItemIds.Count);
        var again = new CountingEncoder(tfidf);
        ItemTextVectors.Build(again, [.. Catalogue(), newItem], CacheFile);
        Assert.Equal(0, again.Texts);
    }

    [Fact]
    public void Build_ChangedPlot_ReencodesThatItem()
    {
        ItemTextVectors.Build(tfidf, Catalogue(), CacheFile);
        var items = Catalogue();
        items[2] = items[2] with { Plot = "Two sisters find love in Devon after their father dies." };
        var encoder = new CountingEncoder(tfidf);

        var vectors = ItemTextVectors.Build(encoder, items, CacheFile);

        Assert.Equal([ItemText.Of(items[2])], encoder.Seen);
        Assert.True(vectors.TryGet(3, out var changed));
        Assert.Equal(tfidf.Encode([ItemText.Of(items[2])])[0], changed);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("truncated")]
    [InlineData("flipped")]
    [InlineData("empty")]
    public void Build_CorruptCache_IsIgnoredWithTheReason_AndRebuilt(string damage)
    {
        ItemTextVectors.Build(tfidf, Catalogue(), CacheFile);
        var bytes = File.ReadAllBytes(CacheFile);
        File.WriteAllBytes(CacheFile, damage switch
        {
            "garbage" => "not a cache at all, just some text"u8.ToArray(),
            "truncated" => bytes[..(bytes.Length / 2)],
            "flipped" => Flip(bytes, bytes.Length / 2),
            _ => [],
        });
        var encoder = new CountingEncoder(tfidf);

        var vectors = ItemTextVectors.Build(encoder, Catalogue(), CacheFile);

        Assert.Equal(3, encoder.Texts);
        Assert.NotNull(vectors.CacheProblem);
        Assert.Contains("ignored", vectors.CacheProblem, StringComparison.Ordinal);
        var healed = new CountingEncoder(tfidf);
        Assert.Null(ItemTextVectors.Build(healed, Catalogue(), CacheFile).CacheProblem);
        Assert.Equal(0, healed.Texts);
    }

    [Fact]
    public void Build_CacheOfAnotherFit_IsIgnored()
    {
        ItemTextVectors.Build(tfidf, Catalogue(), CacheFile);
        var refitted = HashedTfIdfEncoder.Fit(["a different corpus", "with other words"], dimension: 64);
        var encoder = new CountingEncoder(refitted);

        var vectors = ItemTextVectors.Build(encoder, Catalogue(), CacheFile);

        Assert.Equal(3, encoder.Texts);
        Assert.Contains("fingerprint", vectors.CacheProblem, StringComparison.Ordinal);
        Assert.Equal(refitted.Fingerprint, vectors.Fingerprint);
    }

    [Fact]
    public void Build_CacheThatCannotBeWritten_StillReturnsTheVectors_WithTheReason()
    {
        var cache = Path.Combine(folder.Path, "no-such-folder", "cache.vectors");

        var vectors = ItemTextVectors.Build(tfidf, Catalogue(), cache);

        Assert.Equal(3, vectors.ItemIds.Count);
        Assert.Contains("could not be written", vectors.CacheProblem, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_DuplicateItemId_Throws()
    {
        var items = Catalogue();
        Assert.Throws<ArgumentException>(() => ItemTextVectors.Build(tfidf, [.. items, items[0]]));
    }

    [Fact]
    public void With_ReloadedCatalogue_EncodesOnlyNewAndChangedItems_AndDropsRemovedOnes()
    {
        var before = ItemTextVectors.Build(tfidf, Catalogue());
        var items = Catalogue();
        items[0] = items[0] with { Genres = ["Animation", "Family"] };
        items.RemoveAt(1);
        items.Add(Item(5, "Casino", "Crime", "A gambling expert runs a casino for the mob."));
        var encoder = new CountingEncoder(tfidf);

        var after = before.With(encoder, items, CacheFile);

        Assert.Equal([ItemText.Of(items[0]), ItemText.Of(items[2])], encoder.Seen);
        Assert.Equal([1, 3, 5], after.ItemIds.Order());
        Assert.Equal([1, 2, 3], before.ItemIds.Order()); // the old instance is unchanged
        Assert.True(File.Exists(CacheFile));
        Assert.Equal(0, ItemTextVectors.Build(new CountingEncoder(tfidf), items, CacheFile).EncodedCount);
    }

    [Fact]
    public void With_AnotherEncoder_Throws()
    {
        var before = ItemTextVectors.Build(tfidf, Catalogue());

        var e = Assert.Throws<ArgumentException>(() => before.With(HashedTfIdfEncoder.Fit(["other"], dimension: 32), Catalogue()));

        Assert.Contains("dimension 64", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CacheFileFor_IsNextToTheCatalogue_NamedByEncoder()
    {
        Assert.Equal(Path.Combine("/data/ml-1m", "item-text.tfidf.vectors"), ItemTextVectors.CacheFileFor("/data/ml-1m", tfidf));
    }

    private static List<ItemInfo> Catalogue() =>
    [
        Item(1, "Toy Story", "Animation", "A cowboy doll is threatened by a spaceman toy."),
        Item(2, "Heat", "Crime", "A detective hunts a crew of bank robbers."),
        Item(3, "Sense and Sensibility", "Romance", "Two sisters seek love and marriage."),
    ];

    private static ItemInfo Item(int id, string title, string genre, string plot) => new(id, title, 1995, "", [genre], [], [], plot);

    private static byte[] Flip(byte[] bytes, int at)
    {
        var copy = (byte[])bytes.Clone();
        copy[at] ^= 0x40;
        return copy;
    }
}

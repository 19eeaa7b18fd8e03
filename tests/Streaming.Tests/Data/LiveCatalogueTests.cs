using Streaming.Shared.Data;

namespace Streaming.Tests.Data;

[Trait("Kind", "Unit")]
public sealed class LiveCatalogueTests : IDisposable
{
    private const string Header = "item_id:token\tmovie_title:token_seq\trelease_year:token\tgenre:token_seq";
    private readonly TempFolder dir = new();

    [Fact]
    public void Refresh_ItemFileReplacedWithMoreItems_ServesTheNewCatalogue()
    {
        var file = dir.Write("a.item", Header, "1\tA\t1990\tDrama", "2\tB\t1999\tComedy");
        var catalogue = new LiveCatalogue(dir.Path);
        bool unchanged = catalogue.Refresh();

        Replace(file, Header, "1\tA\t1990\tDrama", "2\tB\t1999\tComedy", "3\tC\t2001\tAction");
        bool reloaded = catalogue.Refresh();

        Assert.False(unchanged);
        Assert.True(reloaded);
        Assert.True(catalogue.Contains(3));
        Assert.Equal((3, 2L), (catalogue.Items.Count, catalogue.Revision));
    }

    [Fact]
    public void Refresh_MalformedReplacement_FailsAndKeepsTheCatalogueItHad()
    {
        var file = dir.Write("a.item", Header, "1\tA\t1990\tDrama");
        var catalogue = new LiveCatalogue(dir.Path);

        Replace(file, Header, "not-a-number\tA\t1990\tDrama");

        Assert.Throws<DataFormatException>(() => catalogue.Refresh());
        Assert.True(catalogue.Contains(1));
        Assert.Equal(1L, catalogue.Revision);
    }

    [Fact]
    public void Refresh_Synthetic_NeverChanges()
    {
        var catalogue = new LiveCatalogue("synthetic");

        Assert.False(catalogue.Refresh());
        Assert.NotEmpty(catalogue.Items);
    }

    public void Dispose() => dir.Dispose();

    /// <summary>Writes a new version next to the file and moves it into place, with a later modification time.</summary>
    private static void Replace(string path, params string[] lines)
    {
        string next = path + ".next";
        File.WriteAllText(next, string.Join("\n", lines) + "\n");
        File.SetLastWriteTimeUtc(next, File.GetLastWriteTimeUtc(path).AddSeconds(5));
        File.Move(next, path, overwrite: true);
    }
}

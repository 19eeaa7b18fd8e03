using System.Xml.Linq;
using Streaming.Shared.Data;
using Streaming.Tests.Operations;
using Streaming.Text;

namespace Streaming.Tests.Text;

[Trait("Kind", "Unit")]
public sealed class TextEncodersTests
{
    [Fact]
    public void Names_AreTfIdfAndMiniLm()
    {
        Assert.Equal(["tfidf", "minilm"], TextEncoders.Names);
    }

    [Fact]
    public void Create_UnknownName_ListsTheKnownOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => TextEncoders.Create("word2vec"));

        Assert.Contains("'word2vec'", e.Message, StringComparison.Ordinal);
        Assert.Contains("tfidf, minilm", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_TfIdf_FitsOnTheCorpus_AndNeedsOne()
    {
        var encoder = TextEncoders.Create("TFIDF", ["a b", "b c"]);

        Assert.IsType<HashedTfIdfEncoder>(encoder);
        Assert.Equal(HashedTfIdfEncoder.DefaultDimension, encoder.Dimension);
        Assert.Contains("corpus", Assert.Throws<ArgumentException>(() => TextEncoders.Create("tfidf")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ItemText_JoinsTitleGenresAndPlot_SkippingEmptyParts()
    {
        var item = new ItemInfo(1, "Toy Story", 1995, "G", ["Animation", "Comedy"], ["John Lasseter"], ["Tom Hanks"], "Toys come to life.");

        Assert.Equal("Toy Story. Animation, Comedy. Toys come to life.", ItemText.Of(item));
        Assert.Equal("Toy Story", ItemText.Of(item with { Genres = [], Plot = "" }));
        Assert.Equal("Animation, Comedy", ItemText.Of(item with { Title = " ", Plot = "" }));
    }

    [Fact]
    public void Ingest_DoesNotReferenceTheTextOrLearningProjects()
    {
        // Ingest's image must carry neither ONNX Runtime nor libtorch.
        var closure = ProjectClosure("src/Ingest/Streaming.Ingest.csproj");

        Assert.DoesNotContain(closure, p => p.EndsWith("Streaming.Text.csproj", StringComparison.Ordinal));
        Assert.DoesNotContain(closure, p => p.EndsWith("Streaming.Learning.csproj", StringComparison.Ordinal));
        Assert.Contains("src/Adapter/Streaming.Adapter.csproj", ProjectClosure("src/Adapter/Streaming.Adapter.csproj"));
        Assert.Contains(ProjectClosure("src/Adapter/Streaming.Adapter.csproj"), p => p.EndsWith("Streaming.Text.csproj", StringComparison.Ordinal));
    }

    private static HashSet<string> ProjectClosure(string project)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var queue = new Queue<string>([project]);
        while (queue.TryDequeue(out var current))
        {
            if (!seen.Add(current))
            {
                continue;
            }

            var path = Repository.PathOf(current.Split('/'));
            foreach (var include in XDocument.Load(path).Descendants("ProjectReference").Select(e => (string)e.Attribute("Include")!))
            {
                var full = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, include));
                queue.Enqueue(Path.GetRelativePath(Repository.Root, full).Replace('\\', '/'));
            }
        }

        return seen;
    }
}

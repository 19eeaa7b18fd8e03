using Streaming.Text;

namespace Streaming.Tests.Text;

/// <summary>One MiniLM for the class: loading the 90 MB model takes about a second.</summary>
public sealed class MiniLmFixture : IDisposable
{
    public MiniLmEncoder Encoder { get; } = new();

    public void Dispose() => Encoder.Dispose();
}

[Trait("Kind", "Unit")]
public sealed class MiniLmEncoderTests(MiniLmFixture fixture) : IClassFixture<MiniLmFixture>
{
    [Fact]
    public void Encode_Paraphrases_AreCloserThanAnUnrelatedSentence()
    {
        var v = fixture.Encoder.Encode(
        [
            "A young boy's toys come to life when he is not in the room.",
            "When the child leaves, his playthings wake up and move around.",
            "The central bank raised interest rates to fight inflation.",
        ]);

        var paraphrase = Vectors.Dot(v[0], v[1]);
        var unrelated = Vectors.Dot(v[0], v[2]);
        Assert.True(paraphrase > unrelated + 0.2, $"paraphrase {paraphrase:F3}, unrelated {unrelated:F3}");
    }

    [Fact]
    public void Encode_Texts_AreUnitVectorsOf384_AndTheSameTextGivesTheSameVector()
    {
        var v = fixture.Encoder.Encode(["Toy Story. Animation, Comedy.", "", "Toy Story. Animation, Comedy."]);

        Assert.Equal(384, fixture.Encoder.Dimension);
        Assert.Equal("minilm", fixture.Encoder.Name);
        Assert.All(v, x => Assert.Equal(1.0, Vectors.Norm(x), 5));
        Assert.Equal(v[0], v[2]);
        Assert.Equal(v[0], fixture.Encoder.Encode(["Toy Story. Animation, Comedy."])[0]);
    }

    [Fact]
    public void Create_MiniLm_LoadsFromThePackage()
    {
        using var encoder = (MiniLmEncoder)TextEncoders.Create("minilm");

        Assert.Equal(384, encoder.Encode(["offline"])[0].Length);
    }
}

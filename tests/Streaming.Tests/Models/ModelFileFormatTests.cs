using System.Buffers.Binary;
using System.Text;
using Streaming.Shared.Models;
using Streaming.Tests.Registry;

namespace Streaming.Tests.Models;

/// <summary>The torch-free model file reader: crafted files are refused with a reason before anything large is allocated.</summary>
[Trait("Kind", "Unit")]
public sealed class ModelFileFormatTests
{
    private static readonly ParameterInfo[] Expected = [new("w", [3, 4])];

    [Fact]
    public void Inspect_AValidFile_ReturnsItsManifest()
    {
        var manifest = ModelFile.Inspect(RegistryFixtures.ModelFile(seed: 1), "fixture");
        Assert.Equal(ModelManifest.CurrentFormatVersion, manifest.FormatVersion);
        Assert.Equal("melu", manifest.Hyperparameters.Network);
    }

    [Fact]
    public void ReadWeights_NegativeRank_IsRefused()
    {
        var error = Assert.Throws<InvalidDataException>(() => ModelFile.ReadWeights(Weights("w", rank: -1, []), Expected, "crafted"));
        Assert.Contains("invalid rank -1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadWeights_HugeDimensions_AreRefusedAsTruncatedWithoutAllocating()
    {
        var huge = new ParameterInfo[] { new("w", [1L << 40, 1L << 40]) };
        var error = Assert.Throws<InvalidDataException>(() => ModelFile.ReadWeights(Weights("w", rank: 2, [1L << 40, 1L << 40]), huge, "crafted"));
        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadWeights_NegativeDimension_IsRefused()
    {
        var negative = new ParameterInfo[] { new("w", [-3, 4]) };
        Assert.Throws<InvalidDataException>(() => ModelFile.ReadWeights(Weights("w", rank: 2, [-3, 4]), negative, "crafted"));
    }

    [Fact]
    public void ReadWeights_MalformedNameLength_IsRefused()
    {
        byte[] bytes = [0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3];
        var error = Assert.Throws<InvalidDataException>(() => ModelFile.ReadWeights(bytes, Expected, "crafted"));
        Assert.Contains("unreadable weights", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-5)]
    [InlineData(int.MaxValue)]
    public void Inspect_ManifestLengthOutsideTheFile_IsRefused(int length)
    {
        var bytes = RegistryFixtures.ModelFile(seed: 2);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), length);
        var error = Assert.Throws<InvalidDataException>(() => ModelFile.Inspect(bytes, "crafted"));
        Assert.Contains("manifest", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_TrailingBytes_AreRefused()
    {
        var weights = Weights("w", rank: 2, [3, 4], values: 12).Concat(new byte[] { 1, 2, 3, 4 }).ToArray();
        var error = Assert.Throws<InvalidDataException>(() => ModelFile.ReadWeights(weights, Expected, "crafted"));
        Assert.Contains("unexpected bytes", error.Message, StringComparison.Ordinal);
    }

    private static byte[] Weights(string name, int rank, long[] dims, int values = 0)
    {
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream, Encoding.UTF8);
        writer.Write(name);
        writer.Write(rank);
        foreach (long d in dims)
        {
            writer.Write(d);
        }

        for (int i = 0; i < values; i++)
        {
            writer.Write(0.5f);
        }

        writer.Flush();
        return stream.ToArray();
    }
}

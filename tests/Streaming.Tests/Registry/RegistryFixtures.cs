using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Streaming.Shared.Evaluation;
using Streaming.Shared.Models;

namespace Streaming.Tests.Registry;

/// <summary>
/// Model files for the registry tests, written byte by byte in the model file format (no TorchSharp, so these
/// tests run in parallel): two small parameters with seeded values. They pass <see cref="Shared.Models.ModelFile.Inspect"/>;
/// a real, loadable model goes through the registry in <see cref="RegistryModelLoadTests"/>.
/// </summary>
internal static class RegistryFixtures
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>
    /// A crafted file: a valid manifest whose weights start with a malformed string length (a 7-bit encoded
    /// integer that never ends), its weight checksum made to match, so only a full read finds it out.
    /// </summary>
    public static byte[] Crafted(byte[] valid)
    {
        ArgumentNullException.ThrowIfNull(valid);
        int length = BinaryPrimitives.ReadInt32LittleEndian(valid.AsSpan(8));
        var manifest = JsonNode.Parse(valid.AsSpan(12, length))!.AsObject();
        byte[] weights = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2, 3];
        manifest["weightsSha256"] = Convert.ToHexStringLower(SHA256.HashData(weights));
        byte[] json = Encoding.UTF8.GetBytes(manifest.ToJsonString());
        var file = new byte[12 + json.Length + weights.Length];
        valid.AsSpan(0, 8).CopyTo(file);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(8), json.Length);
        json.CopyTo(file, 12);
        weights.CopyTo(file, 12 + json.Length);
        return file;
    }

    /// <summary>
    /// Replaces the stored file of <paramref name="version"/> in a directory registry behind the registry's back:
    /// with <paramref name="matchChecksum"/>, its recorded SHA-256 and size are rewritten to match (a crafted
    /// version); without, the blob no longer matches what was pushed (a tampered one).
    /// </summary>
    public static void Replace(string registry, string version, byte[] file, bool matchChecksum)
    {
        string folder = Path.Combine(registry, "versions", version);
        File.WriteAllBytes(Path.Combine(folder, "model.bin"), file);
        if (matchChecksum)
        {
            string manifestPath = Path.Combine(folder, "manifest.json");
            var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!.AsObject();
            manifest["sha256"] = Convert.ToHexStringLower(SHA256.HashData(file));
            manifest["sizeBytes"] = file.Length;
            File.WriteAllText(manifestPath, manifest.ToJsonString());
        }
    }

    /// <summary>A valid model file; <paramref name="validationMae"/> null leaves out the validation metrics.</summary>
    public static byte[] ModelFile(int seed, double? validationMae = 0.80, float poison = 0f, string data = "synthetic")
    {
        var random = new Random(seed);
        var parameters = new (string Name, long[] Shape)[] { ("decision.weight", [3, 4]), ("decision.bias", [3]) };
        using var weights = new MemoryStream();
        using (var writer = new BinaryWriter(weights, Encoding.UTF8, leaveOpen: true))
        {
            foreach (var (name, shape) in parameters)
            {
                writer.Write(name);
                writer.Write(shape.Length);
                foreach (long d in shape)
                {
                    writer.Write(d);
                }

                for (long i = 0; i < shape.Aggregate(1L, (a, b) => a * b); i++)
                {
                    writer.Write(i == 0 && poison != 0 ? poison : (float)random.NextDouble());
                }
            }
        }

        byte[] weightBytes = weights.ToArray();
        var manifest = new ModelManifest
        {
            Hyperparameters = new Hyperparameters { InnerSteps = 2, EmbeddingDim = 8 },
            Features = new JsonObject(),
            Training = new TrainingRecord { Data = data, DataFingerprint = $"fp{seed}", TrainUsers = 100, ValidationUsers = 20, TestUsers = 30, Epochs = 3, BestEpoch = 2 },
            Validation = validationMae is double mae ? new PartitionMetrics(20, mae, mae + 0.2, 0.7) : null,
            Parameters = parameters.Select(p => new ParameterInfo(p.Name, p.Shape)).ToArray(),
            WeightsSha256 = Convert.ToHexStringLower(SHA256.HashData(weightBytes)),
            CreatedAt = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero),
        };

        byte[] json = JsonSerializer.SerializeToUtf8Bytes(manifest, Json);
        var file = new byte[8 + 4 + json.Length + weightBytes.Length];
        "STRMMDL\0"u8.CopyTo(file);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(8), json.Length);
        json.CopyTo(file, 12);
        weightBytes.CopyTo(file, 12 + json.Length);
        return file;
    }
}

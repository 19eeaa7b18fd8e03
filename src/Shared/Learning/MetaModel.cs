using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace Streaming.Shared.Learning;

/// <summary>What a model file says about itself; checked in full before any weight is used.</summary>
public sealed record ModelManifest
{
    /// <summary>The current file format version; older readers refuse newer files.</summary>
    public const int CurrentFormatVersion = 1;

    public string Format { get; init; } = MetaModel.FormatName;

    public int FormatVersion { get; init; } = CurrentFormatVersion;

    public required Hyperparameters Hyperparameters { get; init; }

    /// <summary>The feature vocabularies (as written by <see cref="FeatureSpace.ToJson"/>).</summary>
    public required JsonNode Features { get; init; }

    public required TrainingRecord Training { get; init; }

    /// <summary>Quality on the validation users at the saved checkpoint.</summary>
    public PartitionMetrics? Validation { get; init; }

    /// <summary>What users below the few-shot threshold are shown (absent in models trained before it existed).</summary>
    public OnboardingItems? Onboarding { get; init; }

    public required IReadOnlyList<ParameterInfo> Parameters { get; init; }

    /// <summary>Lower-case hex SHA-256 of the weights section.</summary>
    public required string WeightsSha256 { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>A parameter's name and shape, as stored.</summary>
public sealed record ParameterInfo(string Name, long[] Shape);

/// <summary>How and on what a model was trained; enough to reproduce its user split.</summary>
public sealed record TrainingRecord
{
    public string Data { get; init; } = "";

    /// <summary>Fingerprint of the training folder's ratings, so eval can tell whether it sees the same data.</summary>
    public string DataFingerprint { get; init; } = "";

    public int Seed { get; init; }

    public int SplitSeed { get; init; }

    public double ValidationFraction { get; init; }

    public double TestFraction { get; init; }

    public int TrainUsers { get; init; }

    public int ValidationUsers { get; init; }

    public int TestUsers { get; init; }

    public int Epochs { get; init; }

    public int BestEpoch { get; init; }

    public double Seconds { get; init; }

    public string Device { get; init; } = "cpu";
}

/// <summary>
/// A trained meta-model: the network, its feature vocabularies and its manifest. The file is
/// <c>"STRMMDL\0" | int32 manifest length | manifest JSON | weights</c>, the weights being each parameter's
/// name, shape and little-endian float32 values in manifest order, guarded by the manifest's SHA-256.
/// </summary>
public sealed class MetaModel : IDisposable
{
    /// <summary>The <c>format</c> field of every manifest.</summary>
    public const string FormatName = "streaming.melu";

    private static readonly byte[] Magic = "STRMMDL\0"u8.ToArray();

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>Wraps a network and its vocabularies.</summary>
    public MetaModel(MeluNetwork network, FeatureSpace features, ModelManifest manifest)
    {
        Network = network;
        Features = features;
        Manifest = manifest;
    }

    /// <summary>A model in memory (trained or fresh); <see cref="Save"/> fills in its parameter list and checksum.</summary>
    public static MetaModel Unsaved(MeluNetwork network, FeatureSpace features, TrainingRecord training, PartitionMetrics? validation, DateTimeOffset createdAt, OnboardingItems? onboarding = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(features);
        return new MetaModel(network, features, new ModelManifest
        {
            Hyperparameters = network.Hyper,
            Features = JsonNode.Parse(features.ToJson())!,
            Training = training,
            Validation = validation,
            Onboarding = onboarding,
            Parameters = [],
            WeightsSha256 = "",
            CreatedAt = createdAt,
        });
    }

    public MeluNetwork Network { get; }

    public FeatureSpace Features { get; }

    public ModelManifest Manifest { get; }

    /// <summary>Writes the model atomically (a temporary file renamed over <paramref name="path"/>).</summary>
    /// <param name="path">Destination file.</param>
    /// <param name="network">The trained network.</param>
    /// <param name="features">The vocabularies it was trained with.</param>
    /// <param name="manifest">The manifest to write; its parameter list and checksum are filled in here.</param>
    /// <returns>The manifest as written.</returns>
    public static ModelManifest Save(string path, MeluNetwork network, FeatureSpace features, ModelManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(features);
        byte[] weights = WriteWeights(network);
        var written = manifest with
        {
            Parameters = network.named_parameters().Select(p => new ParameterInfo(p.name, p.parameter.shape)).ToArray(),
            WeightsSha256 = Convert.ToHexStringLower(SHA256.HashData(weights)),
            Features = JsonNode.Parse(features.ToJson())!,
        };
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(written, Json);
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        string temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        using (var file = File.Create(temp))
        {
            file.Write(Magic);
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, json.Length);
            file.Write(length);
            file.Write(json);
            file.Write(weights);
            file.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
        return written;
    }

    /// <summary>Reads and fully checks a model file, then builds the network on <paramref name="device"/>.</summary>
    /// <exception cref="InvalidDataException">Not a model file, unsupported version, checksum mismatch, shape mismatch or non-finite weights.</exception>
    public static MetaModel Load(string path, Device device) => Load(File.ReadAllBytes(path), path, device);

    /// <summary>Reads a model from bytes (a registry blob); <paramref name="origin"/> names it in errors.</summary>
    public static MetaModel Load(byte[] bytes, string origin, Device device)
    {
        var (manifest, weightsStart) = ReadHeader(bytes, origin);
        var weights = bytes.AsSpan(weightsStart);
        var features = FeatureSpace.FromJson(manifest.Features.ToJsonString());
        var network = new MeluNetwork(manifest.Hyperparameters, features.Vocabularies.Select(v => v.Size).ToArray());
        ReadWeights(network, weights, origin);
        network.to(device);
        network.eval();
        return new MetaModel(network, features, manifest);
    }

    // Magic, manifest, format version, weights checksum and hyper-parameters: everything but the weights' contents.
    private static (ModelManifest Manifest, int WeightsStart) ReadHeader(byte[] bytes, string origin)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length < Magic.Length + 4 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new InvalidDataException($"{origin}: not a Streaming model file (bad magic)");
        }

        int length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(Magic.Length));
        int start = Magic.Length + 4;
        if (length <= 0 || start + length > bytes.Length)
        {
            throw new InvalidDataException($"{origin}: truncated manifest");
        }

        ModelManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<ModelManifest>(bytes.AsSpan(start, length), Json)
                ?? throw new InvalidDataException($"{origin}: empty manifest");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{origin}: unreadable manifest: {e.Message}", e);
        }

        if (manifest.Format != FormatName)
        {
            throw new InvalidDataException($"{origin}: format '{manifest.Format}' is not '{FormatName}'");
        }

        if (manifest.FormatVersion != ModelManifest.CurrentFormatVersion)
        {
            throw new InvalidDataException($"{origin}: format version {manifest.FormatVersion} is not supported (this build reads {ModelManifest.CurrentFormatVersion})");
        }

        var weights = bytes.AsSpan(start + length);
        string actual = Convert.ToHexStringLower(SHA256.HashData(weights));
        if (!string.Equals(actual, manifest.WeightsSha256, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{origin}: weights checksum mismatch (manifest {manifest.WeightsSha256}, file {actual}): the file is corrupt or was altered");
        }

        try
        {
            manifest.Hyperparameters.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{origin}: {e.Message}", e);
        }

        return (manifest, start + length);
    }

    /// <summary>The network's parameters as bytes (the weights section of the file); also used as an in-memory checkpoint.</summary>
    public static byte[] WriteWeights(MeluNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream, Encoding.UTF8);
        foreach (var (name, parameter) in network.named_parameters())
        {
            writer.Write(name);
            writer.Write(parameter.shape.Length);
            foreach (long d in parameter.shape)
            {
                writer.Write(d);
            }

            using var cpu = parameter.detach().cpu().contiguous();
            var values = cpu.data<float>().ToArray();
            writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }

        writer.Flush();
        return stream.ToArray();
    }

    /// <summary>Copies weights written by <see cref="WriteWeights"/> into <paramref name="network"/>, checking names, shapes and finiteness.</summary>
    /// <exception cref="InvalidDataException">The weights do not fit the network or hold NaN/infinite values.</exception>
    public static void ReadWeights(MeluNetwork network, ReadOnlySpan<byte> weights, string origin)
    {
        ArgumentNullException.ThrowIfNull(network);
        using var stream = new MemoryStream(weights.ToArray());
        using var reader = new BinaryReader(stream, Encoding.UTF8);
        try
        {
            using var noGrad = no_grad();
            foreach (var (name, parameter) in network.named_parameters())
            {
                string stored = reader.ReadString();
                if (stored != name)
                {
                    throw new InvalidDataException($"{origin}: expected parameter '{name}', found '{stored}'");
                }

                long[] shape = new long[reader.ReadInt32()];
                for (int i = 0; i < shape.Length; i++)
                {
                    shape[i] = reader.ReadInt64();
                }

                if (!shape.SequenceEqual(parameter.shape))
                {
                    throw new InvalidDataException($"{origin}: parameter '{name}' has shape [{string.Join(",", shape)}], the network needs [{string.Join(",", parameter.shape)}]");
                }

                var values = new float[parameter.numel()];
                reader.BaseStream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
                if (!values.All(float.IsFinite))
                {
                    throw new InvalidDataException($"{origin}: parameter '{name}' holds NaN or infinite values");
                }

                parameter.copy_(tensor(values).reshape(shape).to(parameter.device));
            }
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"{origin}: weights are truncated", e);
        }

        if (stream.Position != stream.Length)
        {
            throw new InvalidDataException($"{origin}: {stream.Length - stream.Position} unexpected bytes after the last parameter");
        }
    }

    /// <summary>
    /// Checks a model file's bytes in full without building the network (no native code): magic, format version,
    /// manifest, hyper-parameters, the weights' checksum, and that the weights section holds exactly the manifest's
    /// parameters, with finite values. The model registry calls this before it accepts a file.
    /// </summary>
    /// <returns>The file's manifest.</returns>
    /// <exception cref="InvalidDataException">Anything <see cref="Load(byte[], string, Device)"/> would refuse, except a
    /// parameter list that disagrees with the hyper-parameters (only building the network can tell).</exception>
    public static ModelManifest Inspect(byte[] bytes, string origin)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        var (manifest, weightsStart) = ReadHeader(bytes, origin);
        if (manifest.Parameters is not { Count: > 0 })
        {
            throw new InvalidDataException($"{origin}: the manifest lists no parameters");
        }

        using var stream = new MemoryStream(bytes, weightsStart, bytes.Length - weightsStart, writable: false);
        using var reader = new BinaryReader(stream, Encoding.UTF8);
        try
        {
            foreach (var expected in manifest.Parameters)
            {
                string stored = reader.ReadString();
                if (stored != expected.Name)
                {
                    throw new InvalidDataException($"{origin}: expected parameter '{expected.Name}', found '{stored}'");
                }

                int rank = reader.ReadInt32();
                if (rank is < 0 or > 8)
                {
                    throw new InvalidDataException($"{origin}: parameter '{expected.Name}' has an invalid rank {rank}");
                }

                long[] shape = new long[rank];
                for (int i = 0; i < shape.Length; i++)
                {
                    shape[i] = reader.ReadInt64();
                }

                if (!shape.SequenceEqual(expected.Shape ?? []))
                {
                    throw new InvalidDataException($"{origin}: parameter '{expected.Name}' has shape [{string.Join(",", shape)}], the manifest says [{string.Join(",", expected.Shape ?? [])}]");
                }

                // Checked against what is left before allocating, so a hostile shape cannot ask for a huge array.
                long available = (stream.Length - stream.Position) / sizeof(float);
                long count = 1;
                foreach (long d in shape)
                {
                    count = d < 0 || (d > 0 && count > available / d) ? long.MaxValue : count * d;
                }

                if (count > available)
                {
                    throw new EndOfStreamException();
                }

                var values = new float[count];
                stream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
                if (!values.All(float.IsFinite))
                {
                    throw new InvalidDataException($"{origin}: parameter '{expected.Name}' holds NaN or infinite values");
                }
            }
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"{origin}: weights are truncated", e);
        }
        catch (FormatException e)
        {
            throw new InvalidDataException($"{origin}: unreadable weights: {e.Message}", e);
        }

        if (stream.Position != stream.Length)
        {
            throw new InvalidDataException($"{origin}: {stream.Length - stream.Position} unexpected bytes after the last parameter");
        }

        return manifest;
    }

    /// <inheritdoc />
    public void Dispose() => Network.Dispose();
}

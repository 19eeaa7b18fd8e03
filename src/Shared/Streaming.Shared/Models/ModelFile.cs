using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Streaming.Shared.Models;

/// <summary>One stored parameter: its name, shape and values (float32, row-major).</summary>
public sealed record StoredParameter(string Name, long[] Shape, float[] Values);

/// <summary>A model file read and checked in full: its manifest and its parameters, in manifest order.</summary>
public sealed record ModelContents(ModelManifest Manifest, IReadOnlyList<StoredParameter> Parameters);

/// <summary>
/// The model file format, and its only reader and writer. A file is
/// <c>"STRMMDL\0" | int32 manifest length | manifest JSON | weights</c>; the weights are each parameter's
/// name, rank, int64 dimensions and little-endian float32 values in manifest order, guarded by the manifest's
/// SHA-256. Torch-free, so that the registry, the CLI and the gate can check a file without native code.
/// </summary>
/// <remarks>
/// The reader is bounded: the manifest length, every name, rank and element count are checked against what is
/// left of the file before anything is allocated, so a crafted file is refused with a reason, never with an
/// overflow or an out-of-memory.
/// </remarks>
public static class ModelFile
{
    /// <summary>The <c>format</c> field of every manifest.</summary>
    public const string FormatName = "streaming.model";

    /// <summary>The largest manifest accepted (vocabularies included).</summary>
    public const int MaxManifestBytes = 64 * 1024 * 1024;

    /// <summary>The most parameters a file may list.</summary>
    public const int MaxParameters = 4096;

    /// <summary>The highest rank a parameter may have.</summary>
    public const int MaxRank = 8;

    private static readonly byte[] Magic = "STRMMDL\0"u8.ToArray();

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>
    /// The file's bytes for <paramref name="manifest"/> and <paramref name="parameters"/>; the manifest's parameter
    /// list and weights checksum are filled in here.
    /// </summary>
    /// <returns>The bytes and the manifest as written.</returns>
    public static (byte[] Bytes, ModelManifest Manifest) Write(ModelManifest manifest, IReadOnlyList<StoredParameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(parameters);
        byte[] weights = WriteWeights(parameters);
        var written = manifest with
        {
            Format = FormatName,
            FormatVersion = ModelManifest.CurrentFormatVersion,
            Parameters = parameters.Select(p => new ParameterInfo(p.Name, p.Shape)).ToArray(),
            WeightsSha256 = Convert.ToHexStringLower(SHA256.HashData(weights)),
        };
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(written, Json);
        var bytes = new byte[Magic.Length + 4 + json.Length + weights.Length];
        Magic.CopyTo(bytes, 0);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(Magic.Length), json.Length);
        json.CopyTo(bytes, Magic.Length + 4);
        weights.CopyTo(bytes, Magic.Length + 4 + json.Length);
        return (bytes, written);
    }

    /// <summary>Writes <paramref name="bytes"/> atomically: a temporary file renamed over <paramref name="path"/>.</summary>
    public static void WriteAtomically(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        string temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        using (var file = File.Create(temp))
        {
            file.Write(bytes);
            file.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }

    /// <summary>
    /// Checks a model file's bytes in full without building a network (no native code): magic, format version,
    /// manifest, hyper-parameters, the weights' checksum, and that the weights section holds exactly the
    /// manifest's parameters, with finite values. The registry calls this before it accepts a file.
    /// </summary>
    /// <returns>The file's manifest.</returns>
    /// <exception cref="InvalidDataException">The file is not a model this build can read, with the reason.</exception>
    public static ModelManifest Inspect(byte[] bytes, string origin) => Read(bytes, origin).Manifest;

    /// <summary>Reads and checks a model file (everything <see cref="Inspect"/> checks) and returns its parameters.</summary>
    /// <exception cref="InvalidDataException">The file is not a model this build can read, with the reason.</exception>
    public static ModelContents Read(byte[] bytes, string origin)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        try
        {
            return ReadChecked(bytes, origin);
        }
        catch (Exception e) when (e is not InvalidDataException and (FormatException or OverflowException or ArgumentException or NullReferenceException or IndexOutOfRangeException or NotSupportedException or InvalidOperationException))
        {
            // Whatever a crafted manifest makes the deserializer or a check throw is a refused file, not a crash.
            throw new InvalidDataException($"{origin}: not a readable model file: {e.Message}", e);
        }
    }

    private static ModelContents ReadChecked(byte[] bytes, string origin)
    {
        var (manifest, weightsStart) = ReadHeader(bytes, origin);
        if (manifest.Hyperparameters is null || manifest.Features is null || manifest.Training is null)
        {
            throw new InvalidDataException($"{origin}: the manifest lacks hyperparameters, features or its training record");
        }

        if (manifest.RatingDecoder?.Problem() is { } decoderProblem)
        {
            throw new InvalidDataException($"{origin}: {decoderProblem}");
        }

        if (manifest.Parameters is not { Count: > 0 })
        {
            throw new InvalidDataException($"{origin}: the manifest lists no parameters");
        }

        if (manifest.Parameters.Count > MaxParameters)
        {
            throw new InvalidDataException($"{origin}: the manifest lists {manifest.Parameters.Count} parameters (at most {MaxParameters})");
        }

        var parameters = ReadWeights(bytes.AsSpan(weightsStart), manifest.Parameters, origin);
        return new ModelContents(manifest, parameters);
    }

    /// <summary>The weights section for <paramref name="parameters"/> (also an in-memory checkpoint format).</summary>
    public static byte[] WriteWeights(IReadOnlyList<StoredParameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream, Encoding.UTF8);
        foreach (var p in parameters)
        {
            writer.Write(p.Name);
            writer.Write(p.Shape.Length);
            foreach (long d in p.Shape)
            {
                writer.Write(d);
            }

            writer.Write(MemoryMarshal.AsBytes(p.Values.AsSpan()));
        }

        writer.Flush();
        return stream.ToArray();
    }

    /// <summary>
    /// Reads a weights section that must hold exactly <paramref name="expected"/> (names and shapes, in order), with
    /// finite values. Bounded: nothing is allocated before its size is checked against the bytes that are left.
    /// </summary>
    /// <exception cref="InvalidDataException">The section does not hold exactly the expected parameters.</exception>
    public static IReadOnlyList<StoredParameter> ReadWeights(ReadOnlySpan<byte> weights, IReadOnlyList<ParameterInfo> expected, string origin)
    {
        ArgumentNullException.ThrowIfNull(expected);
        var result = new List<StoredParameter>(expected.Count);
        int position = 0;
        foreach (var info in expected)
        {
            string name = ReadName(weights, ref position, origin);
            if (name != info.Name)
            {
                throw new InvalidDataException($"{origin}: expected parameter '{info.Name}', found '{name}'");
            }

            int rank = ReadInt32(weights, ref position, origin);
            if (rank is < 0 or > MaxRank)
            {
                throw new InvalidDataException($"{origin}: parameter '{name}' has an invalid rank {rank}");
            }

            var shape = new long[rank];
            long available = (weights.Length - position - (rank * 8L)) / sizeof(float);
            long count = 1;
            for (int i = 0; i < rank; i++)
            {
                shape[i] = ReadInt64(weights, ref position, origin);
                count = shape[i] < 0 || (shape[i] > 0 && count > Math.Max(0, available) / shape[i]) ? long.MaxValue : count * shape[i];
            }

            if (!shape.SequenceEqual(info.Shape ?? []))
            {
                throw new InvalidDataException($"{origin}: parameter '{name}' has shape [{string.Join(",", shape)}], the manifest says [{string.Join(",", info.Shape ?? [])}]");
            }

            if (count == long.MaxValue || count * sizeof(float) > weights.Length - position)
            {
                throw new InvalidDataException($"{origin}: weights are truncated (parameter '{name}' needs more bytes than the file holds)");
            }

            var values = MemoryMarshal.Cast<byte, float>(weights.Slice(position, (int)count * sizeof(float))).ToArray();
            position += (int)count * sizeof(float);
            foreach (float v in values)
            {
                if (!float.IsFinite(v))
                {
                    throw new InvalidDataException($"{origin}: parameter '{name}' holds NaN or infinite values");
                }
            }

            result.Add(new StoredParameter(name, shape, values));
        }

        if (position != weights.Length)
        {
            throw new InvalidDataException($"{origin}: {weights.Length - position} unexpected bytes after the last parameter");
        }

        return result;
    }

    // Magic, manifest, format version, weights checksum and hyper-parameters: everything but the weights' contents.
    private static (ModelManifest Manifest, int WeightsStart) ReadHeader(byte[] bytes, string origin)
    {
        if (bytes.Length < Magic.Length + 4 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new InvalidDataException($"{origin}: not a Streaming model file (bad magic)");
        }

        int length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(Magic.Length));
        int start = Magic.Length + 4;
        if (length <= 0 || length > MaxManifestBytes || length > bytes.Length - start)
        {
            throw new InvalidDataException($"{origin}: truncated or oversized manifest ({length} bytes declared, {bytes.Length - start} in the file)");
        }

        // The format version first, on its own, so that an older file gets a clear answer rather than a parse error.
        int version;
        string? format;
        try
        {
            using var document = JsonDocument.Parse(bytes.AsMemory(start, length));
            var root = document.RootElement;
            format = root.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
            version = root.TryGetProperty("formatVersion", out var v) && v.TryGetInt32(out int n) ? n : 0;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{origin}: unreadable manifest: {e.Message}", e);
        }

        if (format == "streaming.melu" && version == 1)
        {
            throw new InvalidDataException($"{origin}: format version 1 (before the learning-core redesign) is no longer read: it does not record the network and method; retrain the model with this build");
        }

        if (format != FormatName)
        {
            throw new InvalidDataException($"{origin}: format '{format}' is not '{FormatName}'");
        }

        if (version != ModelManifest.CurrentFormatVersion)
        {
            throw new InvalidDataException($"{origin}: format version {version} is not supported (this build reads {ModelManifest.CurrentFormatVersion})");
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

    private static int ReadInt32(ReadOnlySpan<byte> span, ref int position, string origin)
    {
        if (span.Length - position < 4)
        {
            throw new InvalidDataException($"{origin}: weights are truncated");
        }

        int value = BinaryPrimitives.ReadInt32LittleEndian(span[position..]);
        position += 4;
        return value;
    }

    private static long ReadInt64(ReadOnlySpan<byte> span, ref int position, string origin)
    {
        if (span.Length - position < 8)
        {
            throw new InvalidDataException($"{origin}: weights are truncated");
        }

        long value = BinaryPrimitives.ReadInt64LittleEndian(span[position..]);
        position += 8;
        return value;
    }

    // BinaryWriter's string: a 7-bit encoded length, then UTF-8. Names are short; anything else is refused.
    private static string ReadName(ReadOnlySpan<byte> span, ref int position, string origin)
    {
        int length = 0, shift = 0;
        while (true)
        {
            if (position >= span.Length)
            {
                throw new InvalidDataException($"{origin}: weights are truncated");
            }

            byte b = span[position++];
            length |= (b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                break;
            }

            shift += 7;
            if (shift > 14)
            {
                throw new InvalidDataException($"{origin}: unreadable weights (a parameter name is longer than 2 MB)");
            }
        }

        if (length > 1024 || length > span.Length - position)
        {
            throw new InvalidDataException($"{origin}: unreadable weights (a parameter name of {length} bytes)");
        }

        try
        {
            string name = new UTF8Encoding(false, true).GetString(span.Slice(position, length));
            position += length;
            return name;
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{origin}: unreadable weights (a parameter name is not UTF-8)", e);
        }
    }
}

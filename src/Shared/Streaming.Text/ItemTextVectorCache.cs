using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Streaming.Text;

/// <summary>
/// The cache file of <see cref="ItemTextVectors"/>, little-endian: the magic <c>STXV</c>, format version (int32),
/// encoder name and fingerprint (length-prefixed UTF-8), dimension and count (int32), then per item its id (int32),
/// text hash (uint64) and vector (float32 × dimension), and last the SHA-256 of everything before it.
/// </summary>
internal static class ItemTextVectorCache
{
    public const int FormatVersion = 1;

    /// <summary>The largest cache file read (about 700 000 items of MiniLM's 384 dimensions).</summary>
    public const long MaxFileBytes = 1L << 30;

    private const int MaxNameLength = 64;
    private const int MaxFingerprintLength = 128;
    private const int ChecksumBytes = 32;
    private static readonly byte[] Magic = "STXV"u8.ToArray();

    /// <summary>The entries of <paramref name="path"/> when it is valid for <paramref name="expected"/>; otherwise null and why.</summary>
    public static (IReadOnlyDictionary<int, ItemTextVectors.Entry>? Entries, string? Problem) Read(string path, ItemTextVectors.Identity expected)
    {
        byte[] bytes;
        try
        {
            var length = new FileInfo(path).Length;
            if (length > MaxFileBytes)
            {
                return Ignored(path, $"it is {length} bytes, over the limit of {MaxFileBytes}");
            }

            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Ignored(path, $"it could not be read ({e.Message})");
        }

        try
        {
            return Parse(bytes, expected) switch
            {
                ({ } entries, null) => (entries, null),
                (_, var reason) => Ignored(path, reason ?? "it is invalid"),
            };
        }
        catch (EndOfStreamException)
        {
            return Ignored(path, "it ends too early");
        }
        catch (Exception e) when (e is DecoderFallbackException or FormatException or IOException)
        {
            return Ignored(path, $"it is malformed ({e.Message})");
        }
    }

    /// <summary>Writes <paramref name="entries"/> to <paramref name="path"/> through a temporary file in the same folder and a rename.</summary>
    public static void Write(string path, ItemTextVectors.Identity identity, IReadOnlyDictionary<int, ItemTextVectors.Entry> entries)
    {
        using var content = new MemoryStream();
        using (var writer = new BinaryWriter(content, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Magic);
            writer.Write(FormatVersion);
            writer.Write(identity.Name);
            writer.Write(identity.Fingerprint);
            writer.Write(identity.Dimension);
            writer.Write(entries.Count);
            var floats = new byte[identity.Dimension * sizeof(float)];
            foreach (var (itemId, entry) in entries.OrderBy(e => e.Key))
            {
                writer.Write(itemId);
                writer.Write(entry.TextHash);
                for (var i = 0; i < identity.Dimension; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(floats.AsSpan(i * sizeof(float)), entry.Vector[i]);
                }

                writer.Write(floats);
            }
        }

        var body = content.GetBuffer().AsSpan(0, (int)content.Length);
        var checksum = SHA256.HashData(body);
        var full = Path.GetFullPath(path);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                file.Write(body);
                file.Write(checksum);
                file.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    private static (Dictionary<int, ItemTextVectors.Entry>? Entries, string? Problem) Parse(byte[] bytes, ItemTextVectors.Identity expected)
    {
        if (bytes.Length < Magic.Length + ChecksumBytes || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            return (null, "it is not a text-vector cache (no STXV header)");
        }

        var body = bytes.AsSpan(0, bytes.Length - ChecksumBytes);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan(body.Length)))
        {
            return (null, "its checksum does not match (truncated or corrupt)");
        }

        using var reader = new BinaryReader(new MemoryStream(bytes, Magic.Length, body.Length - Magic.Length), Encoding.UTF8);
        var version = reader.ReadInt32();
        if (version != FormatVersion)
        {
            return (null, $"it has format version {version}, not {FormatVersion}");
        }

        var name = reader.ReadString();
        var fingerprint = reader.ReadString();
        var dimension = reader.ReadInt32();
        var count = reader.ReadInt32();
        if (name.Length > MaxNameLength || fingerprint.Length > MaxFingerprintLength)
        {
            return (null, "its encoder name or fingerprint is too long");
        }

        if (name != expected.Name || dimension != expected.Dimension || fingerprint != expected.Fingerprint)
        {
            return (null, $"it was made by encoder '{name}' (dimension {dimension}, fingerprint '{fingerprint}'), "
                + $"not '{expected.Name}' (dimension {expected.Dimension}, fingerprint '{expected.Fingerprint}')");
        }

        long entryBytes = sizeof(int) + sizeof(ulong) + (long)dimension * sizeof(float);
        long remaining = reader.BaseStream.Length - reader.BaseStream.Position;
        if (count < 0 || count * entryBytes != remaining)
        {
            return (null, $"it says {count} items, but has {remaining} bytes of items ({entryBytes} each)");
        }

        var entries = new Dictionary<int, ItemTextVectors.Entry>(count);
        var floats = new byte[dimension * sizeof(float)];
        for (var n = 0; n < count; n++)
        {
            var itemId = reader.ReadInt32();
            var hash = reader.ReadUInt64();
            reader.BaseStream.ReadExactly(floats);
            var vector = new float[dimension];
            for (var i = 0; i < dimension; i++)
            {
                vector[i] = BinaryPrimitives.ReadSingleLittleEndian(floats.AsSpan(i * sizeof(float)));
                if (!float.IsFinite(vector[i]))
                {
                    return (null, $"item {itemId} has a non-finite value");
                }
            }

            if (!entries.TryAdd(itemId, new ItemTextVectors.Entry(hash, vector)))
            {
                return (null, $"item {itemId} appears twice");
            }
        }

        return (entries, null);
    }

    private static (IReadOnlyDictionary<int, ItemTextVectors.Entry>? Entries, string Problem) Ignored(string path, string reason) =>
        (null, $"the cache '{path}' was ignored: {reason}");
}

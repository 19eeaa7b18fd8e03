using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using Streaming.Shared.Data;

namespace Streaming.Text;

/// <summary>
/// The text vector of every catalogue item, for one encoder: encoded once per catalogue version and cached in a
/// file next to the catalogue. Each item is keyed by a hash of its <see cref="ItemText"/>, so a new item or a
/// changed text is encoded, and nothing else.
/// </summary>
/// <remarks>
/// <para>
/// Immutable, so thread-safe: a catalogue reload makes a new instance (<c>With</c>) and the service swaps
/// the reference. The vectors <see cref="TryGet"/> hands out are shared: read them, never write them.
/// </para>
/// <para>
/// The Adapter is the service that serves text vectors, so its catalogue reload is the one that encodes new items.
/// Ingest does not encode: it only checks item ids, and stays free of ONNX Runtime (and libtorch).
/// </para>
/// <para>
/// The cache file is bounded and checked (magic, version, SHA-256 of the content, sizes, finite values) before
/// use. A cache that is missing, corrupt, truncated or made by another encoder (name, dimension or fitted state)
/// is ignored, with the reason in <see cref="CacheProblem"/>, and rebuilt; it never fails the caller. It is
/// rewritten atomically (a temporary file in the same folder, then a rename) when its content changes.
/// </para>
/// </remarks>
public sealed class ItemTextVectors
{
    /// <summary>How many texts go to the encoder at once (bounds what one call allocates).</summary>
    internal const int EncodeChunk = 256;

    private readonly Dictionary<int, Entry> entries;

    private ItemTextVectors(string encoder, int dimension, string fingerprint, Dictionary<int, Entry> entries, int encodedCount, string? cacheProblem)
    {
        Encoder = encoder;
        Dimension = dimension;
        Fingerprint = fingerprint;
        this.entries = entries;
        EncodedCount = encodedCount;
        CacheProblem = cacheProblem;
    }

    /// <summary>The encoder's <see cref="ITextEncoder.Name"/>.</summary>
    public string Encoder { get; }

    /// <summary>The encoder's <see cref="ITextEncoder.Dimension"/>: the length of every vector.</summary>
    public int Dimension { get; }

    /// <summary>The encoder's <see cref="IFittedTextEncoder.Fingerprint"/>; empty for an encoder without fitted state.</summary>
    public string Fingerprint { get; }

    /// <summary>The items that have a vector: exactly the items last given to <c>Build</c> or <c>With</c>.</summary>
    public IReadOnlyCollection<int> ItemIds => entries.Keys;

    /// <summary>How many items making this instance encoded (the others came from the cache or the previous instance).</summary>
    public int EncodedCount { get; }

    /// <summary>Why the cache file was not used, or not written; null when it was fine or none was asked for.</summary>
    public string? CacheProblem { get; }

    /// <summary>The file a catalogue folder's vectors for <paramref name="encoder"/> are cached in: <c>item-text.NAME.vectors</c> in that folder.</summary>
    public static string CacheFileFor(string catalogueDirectory, ITextEncoder encoder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(catalogueDirectory);
        ArgumentNullException.ThrowIfNull(encoder);
        return Path.Combine(catalogueDirectory, $"item-text.{encoder.Name}.vectors");
    }

    /// <summary>
    /// The vectors of <paramref name="items"/>: those of <paramref name="cacheFile"/> when it is valid for this encoder
    /// and the item's text is unchanged, the others encoded; the cache is rewritten when anything changed.
    /// </summary>
    /// <exception cref="ArgumentException">Two items share an id.</exception>
    /// <exception cref="InvalidOperationException">The encoder returned a vector of the wrong length or with non-finite values.</exception>
    public static ItemTextVectors Build(ITextEncoder encoder, IEnumerable<ItemInfo> items, string? cacheFile = null) =>
        Build(encoder, Texts(items), cacheFile);

    /// <summary><see cref="Build(ITextEncoder, IEnumerable{ItemInfo}, string?)"/> from each item's id and text (<see cref="ItemText.Of"/>).</summary>
    public static ItemTextVectors Build(ITextEncoder encoder, IEnumerable<(int ItemId, string Text)> items, string? cacheFile = null)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(items);
        var identity = Identity.Of(encoder);
        string? problem = null;
        IReadOnlyDictionary<int, Entry>? cached = null;
        if (cacheFile is not null && File.Exists(cacheFile))
        {
            var read = ItemTextVectorCache.Read(cacheFile, identity);
            cached = read.Entries;
            problem = read.Problem;
        }

        return Create(encoder, identity, items, cached, cacheFile, problem);
    }

    /// <summary>
    /// The vectors of <paramref name="items"/> (the reloaded catalogue): this instance's vectors for the items whose
    /// text is unchanged, the new and changed items encoded, the items no longer there dropped. Writes
    /// <paramref name="cacheFile"/> when given and anything changed.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="encoder"/> is not the one these vectors were made with (name, dimension or fitted state), or two items share an id.</exception>
    public ItemTextVectors With(ITextEncoder encoder, IEnumerable<ItemInfo> items, string? cacheFile = null) =>
        With(encoder, Texts(items), cacheFile);

    /// <summary><see cref="With(ITextEncoder, IEnumerable{ItemInfo}, string?)"/> from each item's id and text (<see cref="ItemText.Of"/>).</summary>
    public ItemTextVectors With(ITextEncoder encoder, IEnumerable<(int ItemId, string Text)> items, string? cacheFile = null)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(items);
        var identity = Identity.Of(encoder);
        if (identity != new Identity(Encoder, Dimension, Fingerprint))
        {
            throw new ArgumentException(
                $"These vectors were made by '{Encoder}' (dimension {Dimension}, fingerprint '{Fingerprint}'), not by '{identity.Name}' "
                + $"(dimension {identity.Dimension}, fingerprint '{identity.Fingerprint}'): use Build for another encoder.", nameof(encoder));
        }

        return Create(encoder, identity, items, entries, cacheFile, null);
    }

    /// <summary>The vector of <paramref name="itemId"/>, shared: do not modify it.</summary>
    public bool TryGet(int itemId, [MaybeNullWhen(false)] out float[] vector)
    {
        if (entries.TryGetValue(itemId, out var entry))
        {
            vector = entry.Vector;
            return true;
        }

        vector = null;
        return false;
    }

    /// <summary>Writes these vectors to <paramref name="cacheFile"/>, atomically (a temporary file in the same folder, then a rename).</summary>
    /// <exception cref="IOException">The file could not be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder is not writable.</exception>
    public void Save(string cacheFile)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(cacheFile);
        ItemTextVectorCache.Write(cacheFile, new Identity(Encoder, Dimension, Fingerprint), entries);
    }

    /// <summary>The key of an item's text in the cache: the first 8 bytes of the SHA-256 of its UTF-8.</summary>
    internal static ulong TextHash(string text) =>
        BitConverter.ToUInt64(SHA256.HashData(Encoding.UTF8.GetBytes(text)), 0);

    private static ItemTextVectors Create(
        ITextEncoder encoder, Identity identity, IEnumerable<(int ItemId, string Text)> items, IReadOnlyDictionary<int, Entry>? reuse, string? cacheFile, string? problem)
    {
        var result = new Dictionary<int, Entry>();
        var missing = new List<(int ItemId, ulong Hash, string Text)>();
        foreach (var item in items)
        {
            var text = item.Text ?? "";
            var hash = TextHash(text);
            if (result.ContainsKey(item.ItemId))
            {
                throw new ArgumentException($"Item {item.ItemId} appears twice.", nameof(items));
            }

            if (reuse is not null && reuse.TryGetValue(item.ItemId, out var known) && known.TextHash == hash)
            {
                result.Add(item.ItemId, known);
            }
            else
            {
                // A placeholder keeps the duplicate check above to one dictionary; the vector is filled in below.
                result.Add(item.ItemId, new Entry(hash, []));
                missing.Add((item.ItemId, hash, text));
            }
        }

        foreach (var chunk in missing.Chunk(EncodeChunk))
        {
            var vectors = encoder.Encode(chunk.Select(m => m.Text).ToArray());
            if (vectors.Length != chunk.Length)
            {
                throw new InvalidOperationException($"Text encoder '{identity.Name}' returned {vectors.Length} vectors for {chunk.Length} texts.");
            }

            for (var i = 0; i < chunk.Length; i++)
            {
                var vector = vectors[i];
                if (vector is null || vector.Length != identity.Dimension || !Array.TrueForAll(vector, float.IsFinite))
                {
                    throw new InvalidOperationException(
                        $"Text encoder '{identity.Name}' returned a vector of {vector?.Length ?? 0} values (or non-finite ones) for item {chunk[i].ItemId}; {identity.Dimension} finite values expected.");
                }

                result[chunk[i].ItemId] = new Entry(chunk[i].Hash, vector);
            }
        }

        // Rewrite when the file would differ: something encoded, or an entry of the old set dropped (or no valid file).
        var changed = missing.Count > 0 || reuse is null || reuse.Count != result.Count;
        if (cacheFile is not null && changed)
        {
            try
            {
                ItemTextVectorCache.Write(cacheFile, identity, result);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                problem = (problem is null ? "" : problem + "; ") + $"the cache '{cacheFile}' could not be written: {e.Message}";
            }
        }

        return new ItemTextVectors(identity.Name, identity.Dimension, identity.Fingerprint, result, missing.Count, problem);
    }

    private static IEnumerable<(int ItemId, string Text)> Texts(IEnumerable<ItemInfo> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        return items.Select(item => item is null ? throw new ArgumentNullException(nameof(items), "an item is null") : (item.ItemId, ItemText.Of(item)));
    }

    internal readonly record struct Entry(ulong TextHash, float[] Vector);

    /// <summary>What makes two encoders' vectors interchangeable.</summary>
    internal readonly record struct Identity(string Name, int Dimension, string Fingerprint)
    {
        public static Identity Of(ITextEncoder encoder)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(encoder.Dimension, 1, nameof(encoder));
            return new Identity(encoder.Name, encoder.Dimension, encoder is IFittedTextEncoder fitted ? fitted.Fingerprint : "");
        }
    }
}

namespace Streaming.Shared.Data;

/// <summary>
/// The item catalogue of a running service, following its source: <see cref="Refresh"/> reloads it when the
/// item files changed (a new catalogue is written next to the old one and moved into place). Readers see the
/// old catalogue or the new one, never a mix; a catalogue that fails to load leaves the old one in place.
/// "synthetic" never changes. Thread-safe.
/// </summary>
public sealed class LiveCatalogue
{
    private static readonly string[] ItemFiles = ["movies_extrainfos.dat", "movies.dat"];
    private readonly string source;
    private volatile Snapshot current;

    public LiveCatalogue(string source)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        this.source = source;
        string stamp = Stamp(source);
        current = new Snapshot(CatalogueSource.LoadItems(source), stamp, 1);
    }

    /// <summary>The items now.</summary>
    public IReadOnlyDictionary<int, ItemInfo> Items => current.Items;

    /// <summary>1 for the catalogue loaded at start, one more for each reload.</summary>
    public long Revision => current.Revision;

    public string Source => source;

    public bool Contains(int itemId) => current.Items.ContainsKey(itemId);

    /// <summary>Reloads when the item files changed; true when the catalogue was replaced.</summary>
    /// <exception cref="DataFormatException">The new files are malformed (the old catalogue stays).</exception>
    /// <exception cref="IOException">The files could not be read (the old catalogue stays).</exception>
    public bool Refresh()
    {
        string stamp = Stamp(source);
        if (stamp == current.Stamp)
        {
            return false;
        }

        var items = CatalogueSource.LoadItems(source);
        current = new Snapshot(items, stamp, current.Revision + 1);
        return true;
    }

    /// <summary>Names, sizes and modification times of the files the catalogue is read from.</summary>
    private static string Stamp(string source)
    {
        if (string.Equals(source, "synthetic", StringComparison.OrdinalIgnoreCase) || !Directory.Exists(source))
        {
            return source;
        }

        var files = Directory.EnumerateFiles(source)
            .Where(f => ItemFiles.Contains(Path.GetFileName(f), StringComparer.Ordinal) || f.EndsWith(".item", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(f => new FileInfo(f))
            .Select(f => $"{f.Name}:{f.Length}:{f.LastWriteTimeUtc.Ticks}");
        return string.Join("|", files);
    }

    private sealed record Snapshot(IReadOnlyDictionary<int, ItemInfo> Items, string Stamp, long Revision);
}

namespace Streaming.Shared.Data;

/// <summary>The text of an item that the text modality encodes.</summary>
public static class ItemText
{
    /// <summary>
    /// Title, genres (comma-separated) and plot, each trimmed, the empty ones left out, joined with ". ":
    /// <c>"Toy Story. Animation, Adventure, Comedy. A little boy named Andy ..."</c>. Caches key each item by a hash
    /// of this text, so a change here (or in an item's data) re-encodes the items it changes, and only those.
    /// </summary>
    public static string Of(ItemInfo item)
    {
        ArgumentNullException.ThrowIfNull(item);
        var parts = new List<string>(3);
        Add(parts, item.Title);
        Add(parts, string.Join(", ", item.Genres.Select(g => g.Trim()).Where(g => g.Length > 0)));
        Add(parts, item.Plot);
        return string.Join(". ", parts);
    }

    private static void Add(List<string> parts, string? text)
    {
        var trimmed = text?.Trim() ?? "";
        if (trimmed.Length > 0)
        {
            parts.Add(trimmed);
        }
    }
}

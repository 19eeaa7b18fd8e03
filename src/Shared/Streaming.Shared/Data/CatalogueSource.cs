namespace Streaming.Shared.Data;

/// <summary>Where a service gets its item catalogue: a data folder, or "synthetic" (the generator's items).</summary>
public static class CatalogueSource
{
    /// <exception cref="FileNotFoundException">The folder has no item file.</exception>
    public static IReadOnlyDictionary<int, ItemInfo> LoadItems(string source)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        return string.Equals(source, "synthetic", StringComparison.OrdinalIgnoreCase)
            ? SyntheticDataset.Generate(new SyntheticOptions()).Items
            : DatasetLoader.LoadItems(source);
    }
}

namespace Streaming.Shared.Data;

/// <summary>
/// A multi-valued categorical feature (genres, directors, actors) as a padded index matrix with
/// averaging weights: for every row, the mean of the item's value embeddings equals
/// <c>sum_j Weights[j] * E[Indices[j]]</c> over the row's <see cref="Width"/> slots.
/// </summary>
public sealed class MultiValuedFeature
{
    /// <summary>Wraps row-major <paramref name="indices"/> and <paramref name="weights"/> of <paramref name="width"/> slots per row.</summary>
    public MultiValuedFeature(int width, long[] indices, float[] weights)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(weights);
        if (indices.Length != weights.Length || indices.Length % width != 0)
        {
            throw new ArgumentException(
                $"Indices ({indices.Length}) and weights ({weights.Length}) must have the same length, a multiple of the width {width}.");
        }

        Width = width;
        Indices = indices;
        Weights = weights;
    }

    /// <summary>Slots per row: the most values of any item (capped), at least 1.</summary>
    public int Width { get; }

    /// <summary>Vocabulary indices, <c>[rows * Width]</c> row-major; padding is index 0.</summary>
    public long[] Indices { get; }

    /// <summary>Averaging weights, <c>[rows * Width]</c>: 1/n for each of the n values, 0 for padding.</summary>
    public float[] Weights { get; }
}

/// <summary>Items encoded for the model: one row per item, in the order they were given.</summary>
public sealed class ItemFeatureTable
{
    private readonly Dictionary<int, int> _rows;

    internal ItemFeatureTable(int[] itemIds, long[] rate, MultiValuedFeature genres, MultiValuedFeature directors, MultiValuedFeature actors, string[] texts)
    {
        ItemIds = itemIds;
        Texts = texts;
        Rate = rate;
        Genres = genres;
        Directors = directors;
        Actors = actors;
        _rows = new Dictionary<int, int>(itemIds.Length);
        for (var i = 0; i < itemIds.Length; i++)
        {
            if (!_rows.TryAdd(itemIds[i], i))
            {
                throw new ArgumentException($"Item {itemIds[i]} appears twice.", nameof(itemIds));
            }
        }
    }

    /// <summary>Number of rows (items).</summary>
    public int Count => ItemIds.Length;

    /// <summary>The item id of each row.</summary>
    public int[] ItemIds { get; }

    /// <summary>The text of each row (<see cref="ItemText.Of"/>): what a text encoder reads.</summary>
    public string[] Texts { get; }

    /// <summary>Rate index of each row, <c>[Count]</c>.</summary>
    public long[] Rate { get; }

    /// <summary>Genre indices and weights.</summary>
    public MultiValuedFeature Genres { get; }

    /// <summary>Director indices and weights.</summary>
    public MultiValuedFeature Directors { get; }

    /// <summary>Actor indices and weights.</summary>
    public MultiValuedFeature Actors { get; }

    /// <summary>The row of an item, when the table has it.</summary>
    public bool TryGetRow(int itemId, out int row) => _rows.TryGetValue(itemId, out row);
}

using Streaming.Shared.Data;
using static TorchSharp.torch;

namespace Streaming.Learning.Inputs;

/// <summary>An <see cref="ItemFeatureTable"/> as tensors on one device: the catalogue side of the network's input.</summary>
public sealed class ItemFeatureTensors : IDisposable
{
    /// <summary>Copies the table's feature indices and weights to <paramref name="device"/>.</summary>
    public ItemFeatureTensors(ItemFeatureTable table, Device device)
    {
        ArgumentNullException.ThrowIfNull(table);
        Table = table;
        Count = table.Count;
        Rate = tensor(table.Rate, device: device);
        (GenreIndex, GenreWeight) = ToTensors(table.Genres, table.Count, device);
        (DirectorIndex, DirectorWeight) = ToTensors(table.Directors, table.Count, device);
        (ActorIndex, ActorWeight) = ToTensors(table.Actors, table.Count, device);
    }

    /// <summary>The table these tensors were made from (row order is shared).</summary>
    public ItemFeatureTable Table { get; }

    public int Count { get; }

    public Tensor Rate { get; }

    public Tensor GenreIndex { get; }

    public Tensor GenreWeight { get; }

    public Tensor DirectorIndex { get; }

    public Tensor DirectorWeight { get; }

    public Tensor ActorIndex { get; }

    public Tensor ActorWeight { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in new[] { Rate, GenreIndex, GenreWeight, DirectorIndex, DirectorWeight, ActorIndex, ActorWeight })
        {
            t.Dispose();
        }
    }

    private static (Tensor Index, Tensor Weight) ToTensors(MultiValuedFeature feature, int count, Device device) =>
        (tensor(feature.Indices, device: device).reshape(count, feature.Width),
         tensor(feature.Weights, device: device).reshape(count, feature.Width));
}

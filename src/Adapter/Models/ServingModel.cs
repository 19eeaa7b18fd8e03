using Streaming.Shared.Learning;

namespace Streaming.Adapter.Models;

/// <summary>A meta-model ready to serve: loaded and verified, with its recommender over the catalogue prepared.</summary>
public sealed class ServingModel(string version, MetaModel model, BatchRecommender recommender) : IDisposable
{
    public string Version { get; } = version;

    public MetaModel Model { get; } = model;

    public BatchRecommender Recommender { get; } = recommender;

    public void Dispose()
    {
        Recommender.Dispose();
        Model.Dispose();
    }
}

/// <summary>
/// Hands models from the loader to the consume loop without ever exposing a half-loaded one: the loader
/// <see cref="Offer"/>s a model only once it is fully loaded, verified and prepared; the consume loop takes
/// it between batches (<see cref="TakeLatest"/>), so no batch sees two models, and it disposes the model it
/// replaced, which no other thread uses.
/// </summary>
public sealed class ModelSlot
{
    private ServingModel? pending;
    private ServingModel? current;
    private volatile string? servingVersion;

    /// <summary>The version the consume loop serves now (null before the first batch loop tick).</summary>
    public string? ServingVersion => servingVersion;

    /// <summary>Loader side: the next model to serve; a previous offer that was never taken is disposed.</summary>
    public void Offer(ServingModel model) => Interlocked.Exchange(ref pending, model)?.Dispose();

    /// <summary>Consume-loop side: switches to the newest offered model, if any, and returns the model to use.</summary>
    public ServingModel? TakeLatest()
    {
        if (Interlocked.Exchange(ref pending, null) is { } next)
        {
            var previous = current;
            current = next;
            servingVersion = next.Version;
            previous?.Dispose();
        }

        return current;
    }

    /// <summary>Consume-loop side, at shutdown.</summary>
    public void Clear()
    {
        Interlocked.Exchange(ref pending, null)?.Dispose();
        current?.Dispose();
        current = null;
    }
}

using Streaming.Learning.Models;
using Streaming.Learning.Serving;
using Streaming.Shared.Registry;

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

/// <summary>What is served at one moment: the active model and, for a stable share of users, a canary.</summary>
public sealed class ServingSet(ServingModel active, ServingModel? canary = null, double canaryPercent = 0)
{
    public ServingModel Active { get; } = active;

    public ServingModel? Canary { get; } = canary;

    public double CanaryPercent { get; } = canaryPercent;

    public IEnumerable<ServingModel> Models => Canary is null ? [Active] : [Active, Canary];

    /// <summary>The model that serves <paramref name="userId"/> (the registry's stable split, <see cref="ModelRouting.VersionFor"/>).</summary>
    public ServingModel For(string userId) =>
        Canary is not null && CanarySplit.IsCanary(userId, CanaryPercent, Canary.Version) ? Canary : Active;

    /// <summary>The version that serves <paramref name="userId"/>.</summary>
    public string VersionFor(string userId) => For(userId).Version;
}

/// <summary>
/// Hands model sets from the loader to the consume loop without ever exposing a half-loaded model: the loader
/// <see cref="Offer"/>s a set only once every model in it is loaded, verified and prepared; the consume loop
/// takes it between batches (<see cref="TakeLatest"/>), so no batch sees two sets, and disposes the models the
/// new set no longer uses (models kept from one set to the next, say the active one during a canary, are shared).
/// </summary>
public sealed class ModelSlot
{
    private readonly Lock gate = new();
    private ServingSet? pending;
    private ServingSet? current;

    /// <summary>Raised on the consume loop's thread after it switched sets (old, new).</summary>
    public event Action<ServingSet?, ServingSet>? Switched;

    /// <summary>The set the loader last offered (served from the next batch on), for the loader's bookkeeping.</summary>
    public ServingSet? Latest
    {
        get
        {
            lock (gate)
            {
                return pending ?? current;
            }
        }
    }

    /// <summary>Loader side: the next set to serve; models of a never-taken previous offer that nothing else uses are disposed.</summary>
    public void Offer(ServingSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        lock (gate)
        {
            if (pending is { } unused)
            {
                DisposeUnused(unused, keep: [.. set.Models, .. current?.Models ?? []]);
            }

            pending = set;
        }
    }

    /// <summary>Consume-loop side: switches to the newest offered set, if any, and returns the set to use.</summary>
    public ServingSet? TakeLatest()
    {
        ServingSet? previous, next;
        lock (gate)
        {
            if (pending is null)
            {
                return current;
            }

            (previous, next, current, pending) = (current, pending, pending, null);
            if (previous is not null)
            {
                DisposeUnused(previous, keep: [.. next.Models]);
            }
        }

        Switched?.Invoke(previous, next);
        return next;
    }

    /// <summary>Consume-loop side, at shutdown.</summary>
    public void Clear()
    {
        lock (gate)
        {
            foreach (var model in new[] { pending, current }.Where(s => s is not null).SelectMany(s => s!.Models).Distinct())
            {
                model.Dispose();
            }

            pending = current = null;
        }
    }

    private static void DisposeUnused(ServingSet set, IReadOnlyCollection<ServingModel> keep)
    {
        foreach (var model in set.Models.Where(m => !keep.Contains(m)))
        {
            model.Dispose();
        }
    }
}

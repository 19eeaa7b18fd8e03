using Streaming.Learning.Methods;
using Streaming.Learning.Networks.ItemItem;
using Streaming.Shared.Models;

namespace Streaming.Learning.Training;

/// <summary>
/// The settings a training starts from when its caller names no network and no method: what <c>streaming train</c>
/// and the demo train by default. Settings the caller does give replace the recipe's.
/// </summary>
/// <param name="Hyperparameters">Network, method and shapes.</param>
/// <param name="Epochs">Maximum epochs.</param>
/// <param name="Description">What it is, in words, for logs.</param>
public sealed record TrainingRecipe(Hyperparameters Hyperparameters, int Epochs, string Description)
{
    /// <summary>
    /// The served default: the item-item network (a closed-form EASE/EDLAE layer next to an adapted two-tower user
    /// vector and a rating head) with MetaSGD on the liked-items ranking loss, 3 local steps. Its settings are the ones
    /// measured on MovieLens-1M (README, "Top-N lists for new users").
    /// </summary>
    public static TrainingRecipe Default { get; } = new(
        new Hyperparameters
        {
            Network = ItemItemNetwork.Name,
            Method = MetaSgdLiked.RegisteredName,
            InnerSteps = 3,
            InnerLearningRate = 0.03f,
            MetaLearningRate = 1e-3f,
        },
        Epochs: 12,
        "the item-item network with MetaSGD on the liked-items ranking loss, 3 local steps");

    /// <summary>
    /// The MeLU family's settings (the network and method named, everything else <see cref="Hyperparameters"/>'
    /// defaults: 5 local steps), for a caller that names a network or a method.
    /// </summary>
    public static TrainingRecipe Named(string? network, string? method)
    {
        var hyper = new Hyperparameters();
        hyper = hyper with { Network = network ?? hyper.Network, Method = method ?? hyper.Method };
        return new TrainingRecipe(hyper, Epochs: 30, $"{hyper.Method} on the {hyper.Network} network");
    }

    /// <summary>
    /// <see cref="Default"/> when neither is named, or when only a method is named that builds on the default
    /// recipe's network (<see cref="MetaMethod.DefaultNetwork"/>: MML), with that method; else <see cref="Named"/>.
    /// </summary>
    public static TrainingRecipe For(string? network, string? method)
    {
        if (network is null && method is null)
        {
            return Default;
        }

        if (network is null && MethodCatalog.Method(method!).DefaultNetwork is { } own)
        {
            return own == Default.Hyperparameters.Network
                ? Default with { Hyperparameters = Default.Hyperparameters with { Method = method! }, Description = $"{method} on the {own} network, the default recipe's settings" }
                : Named(own, method);
        }

        return Named(network, method);
    }
}

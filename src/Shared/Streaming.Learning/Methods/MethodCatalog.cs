using Streaming.Learning.Methods.Mamo;
using Streaming.Learning.Methods.Melo;
using Streaming.Learning.Methods.Mml;
using Streaming.Learning.Networks.ItemItem;
using Streaming.Learning.Networks.Melu;
using Streaming.Learning.Networks.Sequential;
using Streaming.Learning.Networks.TwoTower;
using Streaming.Shared.Data;

namespace Streaming.Learning.Methods;

/// <summary>
/// The registered methods and networks, by the names that <c>--algo</c> and the model file use. Adding a method
/// is one class (a <see cref="MetaMethod"/>) and one line here; adding a network is one class and one line in
/// <see cref="Networks"/>.
/// </summary>
public static class MethodCatalog
{
    private static readonly MetaMethod[] Methods =
    [
        new Maml(),
        new FoMaml(),
        new MetaSgd(),
        new Lslr(),
        new Anil(),
        new MetaSgdRanking(),
        new MamoMethod(),
        new MeloMethod(),
        new MetaSgdLiked(),
        new MmlMethod(),
    ];

    private static readonly Dictionary<string, Func<Hyperparameters, FeatureSpace, MetaNetwork>> Networks = new(StringComparer.Ordinal)
    {
        [MeluNetwork.Name] = (hyper, features) => new MeluNetwork(hyper, features.Vocabularies.Select(v => v.Size).ToArray()),
        [TwoTowerNetwork.Name] = (hyper, features) => new TwoTowerNetwork(hyper, features),
        [Gru4RecNetwork.Name] = (hyper, features) => new Gru4RecNetwork(hyper, features.Vocabularies.Select(v => v.Size).ToArray()),
        [SasRecNetwork.Name] = (hyper, features) => new SasRecNetwork(hyper, features.Vocabularies.Select(v => v.Size).ToArray()),
        [ItemItemNetwork.Name] = (hyper, features) => new ItemItemNetwork(hyper, features),
    };

    /// <summary>Every registered method name, in registration order.</summary>
    public static IReadOnlyList<string> MethodNames { get; } = Methods.Select(m => m.Name).ToArray();

    /// <summary>Every registered network name.</summary>
    public static IReadOnlyList<string> NetworkNames { get; } = Networks.Keys.ToArray();

    /// <summary>The method registered as <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No such method; the message lists the registered ones.</exception>
    public static MetaMethod Method(string name) =>
        Methods.FirstOrDefault(m => m.Name == name)
        ?? throw new ArgumentException($"unknown method '{name}' (registered: {string.Join(", ", MethodNames)})", nameof(name));

    /// <summary>A fresh network of the architecture <see cref="Hyperparameters.Network"/> names, for <paramref name="features"/>' vocabularies.</summary>
    /// <exception cref="ArgumentException">No such network; the message lists the registered ones.</exception>
    public static MetaNetwork CreateNetwork(Hyperparameters hyper, FeatureSpace features)
    {
        ArgumentNullException.ThrowIfNull(hyper);
        return Networks.TryGetValue(hyper.Network, out var create)
            ? create(hyper, features)
            : throw new ArgumentException($"unknown network '{hyper.Network}' (registered: {string.Join(", ", NetworkNames)})", nameof(hyper));
    }
}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Learning.Networks;

/// <summary>
/// MeLU's eight feature embeddings (item: MPAA rate, genres, directors, actors; user: gender, age, occupation, zip),
/// shared by every network that reads the side features. A multi-valued feature is the weighted mean of its values'
/// embeddings. Created before a network's other layers, so that seeded initialisation stays the same.
/// </summary>
public sealed class FeatureEmbeddings : nn.Module
{
    private readonly Embedding rate;
    private readonly Embedding genre;
    private readonly Embedding director;
    private readonly Embedding actor;
    private readonly Embedding gender;
    private readonly Embedding age;
    private readonly Embedding occupation;
    private readonly Embedding zip;

    /// <param name="vocabularySizes">The eight vocabulary sizes, in the order rate, genre, director, actor, gender, age, occupation, zip.</param>
    /// <param name="dim">Size of every embedding (E).</param>
    public FeatureEmbeddings(IReadOnlyList<int> vocabularySizes, int dim) : base("features")
    {
        ArgumentNullException.ThrowIfNull(vocabularySizes);
        if (vocabularySizes.Count < 8)
        {
            throw new ArgumentException("expected 8 vocabulary sizes (rate, genre, director, actor, gender, age, occupation, zip)", nameof(vocabularySizes));
        }

        rate = Layers.Embedding(vocabularySizes[0], dim);
        genre = Layers.Embedding(vocabularySizes[1], dim);
        director = Layers.Embedding(vocabularySizes[2], dim);
        actor = Layers.Embedding(vocabularySizes[3], dim);
        gender = Layers.Embedding(vocabularySizes[4], dim);
        age = Layers.Embedding(vocabularySizes[5], dim);
        occupation = Layers.Embedding(vocabularySizes[6], dim);
        zip = Layers.Embedding(vocabularySizes[7], dim);
        RegisterComponents();
    }

    /// <summary>Item side features: [items, 4E]. <paramref name="dropTokens"/> may hide director and actor tokens (training only).</summary>
    public Tensor Items(ItemFeatureTensors items, Func<Tensor, Tensor>? dropTokens = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        var drop = dropTokens ?? (t => t);
        return cat([
            rate.call(items.Rate),
            Layers.WeightedMean(genre, items.GenreIndex, items.GenreWeight),
            Layers.WeightedMean(director, drop(items.DirectorIndex), items.DirectorWeight),
            Layers.WeightedMean(actor, drop(items.ActorIndex), items.ActorWeight),
        ], 1);
    }

    /// <summary>User profile features from indices [users, 4]: [users, 4E]. <paramref name="dropTokens"/> may hide zip tokens.</summary>
    public Tensor Users(Tensor profile, Func<Tensor, Tensor>? dropTokens = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var drop = dropTokens ?? (t => t);
        return cat([
            gender.call(profile.select(1, 0)),
            age.call(profile.select(1, 1)),
            occupation.call(profile.select(1, 2)),
            zip.call(drop(profile.select(1, 3))),
        ], 1);
    }
}

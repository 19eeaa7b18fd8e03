using System.Text.Json.Serialization;

namespace Streaming.Shared.Models;

/// <summary>
/// Which parameters adapt per user. The per-user state that the service caches is exactly these
/// tensors, so the scope trades quality for state size and scoring cost.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<FastWeightScope>))]
public enum FastWeightScope
{
    /// <summary>MeLU: all three decision layers (weights and biases), about 81 KB per user.</summary>
    All,

    /// <summary>Only the output layer (65 values).</summary>
    Last,

    /// <summary>Only the biases of the decision layers (129 values).</summary>
    Bias,

    /// <summary>
    /// Rank-r deltas of the two hidden layers (U V^T, V meta-learned and shared, U per user) plus all
    /// biases and the output layer: 128 r + 193 values.
    /// </summary>
    LowRank,

    /// <summary>A per-user context vector added to the first layer through a shared projection (CAVIA).</summary>
    Context,
}

/// <summary>Everything that defines a model's shape and its inner loop; stored in the model manifest.</summary>
public sealed record Hyperparameters
{
    /// <summary>Size of every feature embedding (MeLU: 32).</summary>
    public int EmbeddingDim { get; init; } = 32;

    /// <summary>Width of the first decision layer (MeLU: 64).</summary>
    public int Hidden1 { get; init; } = 64;

    /// <summary>Width of the second decision layer (MeLU: 64).</summary>
    public int Hidden2 { get; init; } = 64;

    /// <summary>
    /// The network architecture, by its registered name (Streaming.Learning's network catalogue, for example
    /// <c>melu</c>). The model file records it so that loading builds the right network.
    /// </summary>
    public string Network { get; init; } = "melu";

    /// <summary>
    /// The meta-learning method, by its registered name, as <c>--algo</c> spells it (<c>maml</c>, <c>fomaml</c>,
    /// <c>metasgd</c>, <c>lslr</c>, ...): how the inner loop learns (ALGORITHMS.md sections 1 and 2).
    /// </summary>
    public string Method { get; init; } = "metasgd";

    public FastWeightScope Scope { get; init; } = FastWeightScope.All;

    /// <summary>Rank of the per-user deltas for <see cref="FastWeightScope.LowRank"/>.</summary>
    public int Rank { get; init; } = 4;

    /// <summary>Length of the per-user context vector for <see cref="FastWeightScope.Context"/>.</summary>
    public int ContextDim { get; init; } = 32;

    /// <summary>Local update steps (MeLU-1: 1, MeLU-5: 5).</summary>
    public int InnerSteps { get; init; } = 5;

    /// <summary>Inner learning rate (fixed for MAML, the initial value of the learned rates otherwise).</summary>
    public float InnerLearningRate { get; init; } = 0.05f;

    /// <summary>Adam learning rate of the outer loop.</summary>
    public float MetaLearningRate { get; init; } = 5e-4f;

    /// <summary>
    /// In training, the probability of replacing a director, actor or zip-region token by "unknown". Why:
    /// casts are nearly unique per item, so without it the network memorises items through them; and new
    /// items' unseen casts all look up "unknown", which the model must have learned to use. Off by default:
    /// on MovieLens-1M, 0.1 did not improve held-out MAE (0.7380 vs 0.7368) once rare tokens map to unknown.
    /// </summary>
    public float TokenDropout { get; init; }

    /// <summary>Users per meta-batch (MeLU: 32).</summary>
    public int MetaBatchSize { get; init; } = 32;

    /// <summary>
    /// MML's text encoder, by name (<c>tfidf</c>: hashed TF-IDF, its IDF fitted on the training catalogue and kept in
    /// the model; <c>minilm</c>: a pretrained MiniLM sentence encoder from a package). Read only by text networks.
    /// </summary>
    public string TextEncoder { get; init; } = "tfidf";

    /// <summary>Length of the hashed TF-IDF text vectors (a pretrained encoder has its own).</summary>
    public int TextDim { get; init; } = 512;

    /// <summary>Initial value of the output bias: the mean training rating, so training starts near the right scale.</summary>
    public float RatingMean { get; init; } = 3.6f;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        Check(IsName(Network), nameof(Network), "must be a registered network name (lower-case letters, digits, '-' or '_')");
        Check(IsName(Method), nameof(Method), "must be a registered method name (lower-case letters, digits, '-' or '_')");
        Check(EmbeddingDim is >= 1 and <= 1024, nameof(EmbeddingDim), "must be in 1..1024");
        Check(Hidden1 is >= 1 and <= 4096, nameof(Hidden1), "must be in 1..4096");
        Check(Hidden2 is >= 1 and <= 4096, nameof(Hidden2), "must be in 1..4096");
        Check(Rank is >= 1 and <= 256, nameof(Rank), "must be in 1..256");
        Check(ContextDim is >= 1 and <= 1024, nameof(ContextDim), "must be in 1..1024");
        Check(InnerSteps is >= 0 and <= 50, nameof(InnerSteps), "must be in 0..50");
        Check(float.IsFinite(InnerLearningRate) && InnerLearningRate >= 0, nameof(InnerLearningRate), "must be a finite number >= 0");
        Check(float.IsFinite(MetaLearningRate) && MetaLearningRate > 0, nameof(MetaLearningRate), "must be a finite number > 0");
        Check(TokenDropout is >= 0 and < 1, nameof(TokenDropout), "must be in [0, 1)");
        Check(MetaBatchSize is >= 1 and <= 4096, nameof(MetaBatchSize), "must be in 1..4096");
        Check(float.IsFinite(RatingMean), nameof(RatingMean), "must be finite");
        Check(IsName(TextEncoder), nameof(TextEncoder), "must be a text encoder name (lower-case letters, digits, '-' or '_')");
        Check(TextDim is >= 8 and <= 65536, nameof(TextDim), "must be in 8..65536");
    }

    private static bool IsName(string? name) =>
        name is { Length: >= 1 and <= 64 } && name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_');

    private static void Check(bool ok, string name, string rule)
    {
        if (!ok)
        {
            throw new ArgumentException($"hyper-parameter {name} {rule}", name);
        }
    }
}

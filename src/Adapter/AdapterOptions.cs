using System.ComponentModel.DataAnnotations;

namespace Streaming.Adapter;

/// <summary>Configuration section <c>Adapter</c> (env: <c>Adapter__Model</c>, ...).</summary>
public sealed class AdapterOptions : IValidatableObject
{
    public const string Section = "Adapter";

    /// <summary>Kafka consumer group of the Adapter replicas.</summary>
    [Required(AllowEmptyStrings = false)]
    public string GroupId { get; set; } = "streaming-adapter";

    /// <summary>A meta-model file to serve; replaced files are picked up without a restart. Either this or <see cref="Registry"/>.</summary>
    public string Model { get; set; } = "";

    /// <summary>
    /// The model registry to follow (<c>redis://host:port[/prefix]</c> or a directory): its active version, and
    /// its canary for the canary's share of users. Promote, canary and rollback take effect within
    /// <see cref="ModelPollMs"/> plus the load time. Either this or <see cref="Model"/>.
    /// </summary>
    public string Registry { get; set; } = "";

    /// <summary>The item catalogue to recommend from: a data folder, or "synthetic".</summary>
    [Required(AllowEmptyStrings = false)]
    public string Catalogue { get; set; } = "";

    /// <summary>Where adaptation runs: auto (cuda when available), cpu or cuda.</summary>
    [RegularExpression("^(auto|cpu|cuda)$", ErrorMessage = "Adapter:Device must be auto, cpu or cuda")]
    public string Device { get; set; } = "auto";

    /// <summary>Local update steps per adaptation (MeLU-5 by default).</summary>
    [Range(0, 50)]
    public int Steps { get; set; } = 5;

    /// <summary>Items per recommendation.</summary>
    [Range(1, 1000)]
    public int TopK { get; set; } = 20;

    /// <summary>Most users adapted as one batch.</summary>
    [Range(1, 4096)]
    public int MaxBatchUsers { get; set; } = 64;

    /// <summary>
    /// Longest wait for a batch to fill once its first request arrived, in milliseconds: the latency paid for
    /// batching when traffic is light.
    /// </summary>
    [Range(0, 10_000)]
    public int MaxBatchWaitMs { get; set; } = 2;

    /// <summary>How long a user's cached fast weights live.</summary>
    [Range(60, 90 * 24 * 3600)]
    public int FastWeightTtlSeconds { get; set; } = 24 * 3600;

    /// <summary>Key prefix of the fast-weight cache in Redis.</summary>
    [Required(AllowEmptyStrings = false)]
    public string FastWeightKeyPrefix { get; set; } = "fw";

    /// <summary>
    /// Threads for tensor operations (torch intra-op); 0 keeps torch's default (one per core). Micro-batches
    /// are small, and with the consume loops and Kafka clients sharing the cores, one thread gave lower and
    /// steadier latency than spinning worker threads on this 2-core machine.
    /// </summary>
    [Range(0, 256)]
    public int TensorThreads { get; set; } = 1;

    /// <summary>After a model switch, how many users with fast weights of a no longer served version are re-adapted per second.</summary>
    [Range(1, 1_000_000)]
    public int StaleReadaptPerSecond { get; set; } = 1000;

    /// <summary>
    /// The largest per-user fast state (float32 bytes) a served model may have; a model above it is refused before it
    /// serves. The default admits MeLU's full scope (82,692 bytes) and refuses hyper-parameters that would ask for
    /// megabytes per user.
    /// </summary>
    [Range(64, 64 * 1024 * 1024)]
    public int MaxFastStateBytes { get; set; } = 256 * 1024;

    /// <summary>How often the model source is checked for a new meta-model, in milliseconds.</summary>
    [Range(100, 600_000)]
    public int ModelPollMs { get; set; } = 1000;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrWhiteSpace(Model) == string.IsNullOrWhiteSpace(Registry))
        {
            yield return new ValidationResult("set exactly one of Adapter:Model (a meta-model file) and Adapter:Registry (a model registry)", [nameof(Model), nameof(Registry)]);
        }
    }
}

using System.ComponentModel.DataAnnotations;

namespace Streaming.Ingest;

/// <summary>Configuration section <c>Ingest</c> (env: <c>Ingest__GroupId</c>, ...).</summary>
public sealed class IngestOptions
{
    public const string Section = "Ingest";

    /// <summary>Kafka consumer group of the Ingest replicas.</summary>
    [Required(AllowEmptyStrings = false)]
    public string GroupId { get; set; } = "streaming-ingest";

    /// <summary>Most messages processed as one batch (one Redis round trip, one offset store).</summary>
    [Range(1, 100_000)]
    public int MaxBatchSize { get; set; } = 5000;

    /// <summary>Longest wait for a batch to fill, in milliseconds.</summary>
    [Range(1, 10_000)]
    public int MaxBatchWaitMs { get; set; } = 20;

    /// <summary>How often the catalogue's files are checked for changes (a changed catalogue is reloaded while running).</summary>
    [Range(1, 86_400)]
    public int CatalogueRefreshSeconds { get; set; } = 30;

    /// <summary>
    /// Kafka consumer group of Ingest's reader of the recommendations topic (online evaluation: each user's last
    /// served list); runs while <c>Sessions:OnlineEvaluation</c> is on.
    /// </summary>
    [Required(AllowEmptyStrings = false)]
    public string ServedGroupId { get; set; } = "streaming-ingest-served";

    /// <summary>How often the online figures per version are read from Redis into /metrics, in seconds.</summary>
    [Range(1, 3600)]
    public int OnlineMetricsSeconds { get; set; } = 15;

    /// <summary>How both of Ingest's consume loops batch.</summary>
    public Shared.Messaging.BatchLimits BatchLimits => new(MaxBatchSize, TimeSpan.FromMilliseconds(MaxBatchWaitMs));

    /// <summary>The item catalogue that events are checked against: a data folder, or "synthetic".</summary>
    [Required(AllowEmptyStrings = false)]
    public string Catalogue { get; set; } = "";
}

using Prometheus;

namespace Streaming.Ingest;

/// <summary>Ingest's Prometheus metrics (names are part of the operations contract: dashboards and alerts use them).</summary>
public static class IngestMetrics
{
    public static readonly Counter Events = Metrics.CreateCounter(
        "streaming_ingest_events_total", "Interaction events by outcome (applied, duplicate, dead_lettered).", "outcome");

    public static readonly Counter AdaptRequests = Metrics.CreateCounter(
        "streaming_ingest_adapt_requests_total", "Adapt-requests published for users who became due, by basis (adapted, onboarding).", "basis");

    /// <summary>How long interactions wait in Kafka before their batch starts: Ingest falling behind shows here first.</summary>
    public static readonly Histogram QueueSeconds = Metrics.CreateHistogram(
        "streaming_ingest_queue_seconds", "Time from an interaction being published to its batch starting.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });

    public static readonly Histogram BatchSize = Metrics.CreateHistogram(
        "streaming_ingest_batch_size", "Messages per processed batch.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 4, 9) });

    public static readonly Histogram BatchSeconds = Metrics.CreateHistogram(
        "streaming_ingest_batch_seconds", "Time to make a batch durable (validate, Redis, produce).",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 14) });

    public static readonly Counter RedisRetries = Metrics.CreateCounter(
        "streaming_ingest_redis_retries_total", "Retries of a batch's Redis writes while Redis was unavailable.");

    public static readonly Counter KafkaRetries = Metrics.CreateCounter(
        "streaming_ingest_kafka_retries_total", "Retries of a batch whose dead letters or adapt-requests Kafka could not take (consumption paused meanwhile).");

    public static readonly Gauge ConsumerLag = Metrics.CreateGauge(
        "streaming_ingest_consumer_lag_messages", "Interactions waiting in the assigned partitions (high watermark minus position).");

    public static readonly Counter ServedLists = Metrics.CreateCounter(
        "streaming_ingest_served_lists_total", "Served recommendation lists read for online evaluation, by outcome (recorded, dead_lettered).", "outcome");

    // Online evaluation per arm (labels: the model version, and the canary window it served in, '' outside one).
    private static readonly string[] ArmLabels = ["version", "window"];

    public static readonly Gauge OnlineUsers = Metrics.CreateGauge(
        "streaming_online_users", "Users with at least one interaction attributed to a list of the version.", ArmLabels);

    public static readonly Gauge OnlineEvents = Metrics.CreateGauge(
        "streaming_online_events", "Interactions attributed to the latest list of the version served before them.", ArmLabels);

    public static readonly Gauge OnlineRatedEvents = Metrics.CreateGauge(
        "streaming_online_rated_events", "Attributed interactions with an explicit rating on a listed item (what the MAE is over).", ArmLabels);

    public static readonly Gauge OnlineHitRate = Metrics.CreateGauge(
        "streaming_online_hit_rate", "Share of attributed interactions on an item of the list (hit rate@K).", ArmLabels);

    public static readonly Gauge OnlineMrr = Metrics.CreateGauge(
        "streaming_online_mrr", "Mean reciprocal rank of the attributed interactions' items in the list (0 when absent).", ArmLabels);

    public static readonly Gauge OnlineMae = Metrics.CreateGauge(
        "streaming_online_mae", "Mean absolute error of the list's predicted rating against the user's explicit rating.", ArmLabels);
}

using Prometheus;

namespace Streaming.Adapter;

/// <summary>The Adapter's Prometheus metrics (names are part of the operations contract: dashboards and alerts use them).</summary>
public static class AdapterMetrics
{
    /// <summary>The service-level figure: from the triggering interaction's event time to its recommendation being produced.</summary>
    public static readonly Histogram Latency = Metrics.CreateHistogram(
        "streaming_adapter_latency_seconds",
        "End-to-end latency from the triggering interaction's event time to the recommendation being produced, by basis (adapted, onboarding).",
        new HistogramConfiguration
        {
            LabelNames = ["basis"],
            Buckets = [0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30],
        });

    /// <summary>How long adapt-requests wait in Kafka before their batch starts: the Adapter falling behind shows here first.</summary>
    public static readonly Histogram QueueSeconds = Metrics.CreateHistogram(
        "streaming_adapter_queue_seconds", "Time from an adapt-request being published to its micro-batch starting.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });

    public static readonly Histogram BatchUsers = Metrics.CreateHistogram(
        "streaming_adapter_batch_users", "Users adapted per micro-batch (after coalescing).",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 2, 13) });

    public static readonly Histogram ComputeSeconds = Metrics.CreateHistogram(
        "streaming_adapter_compute_seconds", "Adaptation and catalogue scoring time per micro-batch.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });

    public static readonly Counter Recommendations = Metrics.CreateCounter(
        "streaming_adapter_recommendations_total", "Recommendations published, by basis (adapted, onboarding).", "basis");

    public static readonly Gauge ConsumerLag = Metrics.CreateGauge(
        "streaming_adapter_consumer_lag_messages", "Adapt-requests waiting in the assigned partitions (high watermark minus position).");

    public static readonly Counter DeadLettered = Metrics.CreateCounter(
        "streaming_adapter_dead_lettered_total", "Adapt-requests that could not be read, sent to the dead-letter topic with the reason.");

    public static readonly Counter MissingSessions = Metrics.CreateCounter(
        "streaming_adapter_missing_sessions_total", "Adapt-requests whose session had expired or was never written.");

    public static readonly Gauge ModelInfo = Metrics.CreateGauge(
        "streaming_adapter_model_info", "The meta-model versions being served (value 1), by role (active, canary).", "version", "role");

    public static readonly Counter ModelLoads = Metrics.CreateCounter(
        "streaming_adapter_model_loads_total", "Meta-model loads, by outcome (loaded, refused).", "outcome");

    public static readonly Counter StaleReadapts = Metrics.CreateCounter(
        "streaming_adapter_stale_readapts_total", "Re-adaptations requested after a model switch for users whose cached fast weights came from another version.");

    public static readonly Counter KafkaRetries = Metrics.CreateCounter(
        "streaming_adapter_kafka_retries_total", "Retries of a micro-batch whose recommendations or dead letters Kafka could not take (consumption paused meanwhile).");

    /// <summary>1 while the Adapter serves an older version than the routing asks for, because the routed one was refused.</summary>
    public static readonly Gauge ModelDegraded = Metrics.CreateGauge(
        "streaming_adapter_model_degraded", "1 while the served models are not the routed ones (the routed version was refused; an older good one serves), else 0.");

    public static readonly Counter RedisRetries = Metrics.CreateCounter(
        "streaming_adapter_redis_retries_total", "Retries of a batch's Redis reads or writes while Redis was unavailable.");
}

using Prometheus;

namespace Streaming.MetaTrainer;

/// <summary>The MetaTrainer's Prometheus metrics (names are part of the operations contract: dashboards and alerts use them).</summary>
public static class MetaTrainerMetrics
{
    public static readonly Counter Runs = Metrics.CreateCounter(
        "streaming_metatrainer_runs_total", "Training runs by outcome (published, refused, failed).", "outcome");

    public static readonly Gauge LastRunSeconds = Metrics.CreateGauge(
        "streaming_metatrainer_last_run_seconds", "Duration of the last run, from sampling to publishing.");

    public static readonly Gauge LastRunTimestamp = Metrics.CreateGauge(
        "streaming_metatrainer_last_run_timestamp_seconds", "When the last run ended (Unix time); alert when it is older than a few intervals.");

    public static readonly Gauge LastCandidateMae = Metrics.CreateGauge(
        "streaming_metatrainer_last_candidate_mae", "The last candidate's MAE on the held-out evaluation users.");

    public static readonly Gauge LastParentMae = Metrics.CreateGauge(
        "streaming_metatrainer_last_parent_mae", "The last run's parent (active version) MAE on the same held-out users.");

    public static readonly Gauge LastCandidateNdcg = Metrics.CreateGauge(
        "streaming_metatrainer_last_candidate_ndcg3", "The last candidate's nDCG@3 on the held-out evaluation users.");

    public static readonly Gauge LastParentNdcg = Metrics.CreateGauge(
        "streaming_metatrainer_last_parent_ndcg3", "The last run's parent (active version) nDCG@3 on the same held-out users.");

    public static readonly Gauge LastSampledUsers = Metrics.CreateGauge(
        "streaming_metatrainer_last_sampled_users", "Users sampled from the session store by the last run (training, validation and evaluation).");
}

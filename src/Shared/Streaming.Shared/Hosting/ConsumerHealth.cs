using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Streaming.Shared.Hosting;

/// <summary>
/// What /health reports for a consuming service: whether it is still getting ready (the Adapter's first model),
/// whether a write is being retried (Redis or Kafka unavailable; consumption is paused meanwhile, nothing is lost),
/// whether the consume loop is running, and whether it serves something other than it was asked to (degraded: the
/// Adapter serving an older model because the routed one was refused). Written by the service's threads, read by
/// health checks.
/// </summary>
public sealed class ConsumerHealth : IHealthCheck
{
    private volatile string? notReady;
    private volatile string? redisOutage;
    private volatile string? kafkaOutage;
    private volatile string? loopFailure;
    private volatile string? degraded;

    public void NotReady(string reason) => notReady = reason;

    public void Ready() => notReady = null;

    public void RedisUnavailable(string reason) => redisOutage = reason;

    /// <summary>A batch went through: every write is possible again.</summary>
    public void RedisAvailable()
    {
        redisOutage = null;
        kafkaOutage = null;
    }

    public void KafkaUnavailable(string reason) => kafkaOutage = reason;

    public void LoopFailed(string reason) => loopFailure = reason;

    /// <summary>Serving, but not what was asked for (reported as Degraded, which readiness still accepts).</summary>
    public void Degraded(string reason) => degraded = reason;

    public void NotDegraded() => degraded = null;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(loopFailure is { } f ? HealthCheckResult.Unhealthy($"consume loop stopped: {f}")
            : notReady is { } n ? HealthCheckResult.Unhealthy($"not ready: {n}")
            : redisOutage is { } r ? HealthCheckResult.Unhealthy($"Redis unavailable, consumption paused and retrying: {r}")
            : kafkaOutage is { } k ? HealthCheckResult.Unhealthy($"Kafka unavailable, consumption paused and retrying: {k}")
            : degraded is { } d ? HealthCheckResult.Degraded(d)
            : HealthCheckResult.Healthy());
}

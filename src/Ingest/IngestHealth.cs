using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Streaming.Ingest;

/// <summary>
/// What /health reports for Ingest: whether Redis is being retried (consumption is paused meanwhile, nothing
/// is lost) and whether the consume loop is running. Written by the consume thread, read by health checks.
/// </summary>
public sealed class IngestHealth : IHealthCheck
{
    private volatile string? redisOutage;
    private volatile string? loopFailure;

    public void RedisUnavailable(string reason) => redisOutage = reason;

    public void RedisAvailable() => redisOutage = null;

    public void LoopFailed(string reason) => loopFailure = reason;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(loopFailure is { } f ? HealthCheckResult.Unhealthy($"consume loop stopped: {f}")
            : redisOutage is { } r ? HealthCheckResult.Unhealthy($"Redis unavailable, consumption paused and retrying: {r}")
            : HealthCheckResult.Healthy());
}

using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Streaming.Shared.Hosting;

/// <summary>
/// What /health reports for a consuming service: whether it is still getting ready (the Adapter's first model),
/// whether Redis is being retried (consumption is paused meanwhile, nothing is lost) and whether the consume
/// loop is running. Written by the service's threads, read by health checks.
/// </summary>
public sealed class ConsumerHealth : IHealthCheck
{
    private volatile string? notReady;
    private volatile string? redisOutage;
    private volatile string? loopFailure;

    public void NotReady(string reason) => notReady = reason;

    public void Ready() => notReady = null;

    public void RedisUnavailable(string reason) => redisOutage = reason;

    public void RedisAvailable() => redisOutage = null;

    public void LoopFailed(string reason) => loopFailure = reason;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(loopFailure is { } f ? HealthCheckResult.Unhealthy($"consume loop stopped: {f}")
            : notReady is { } n ? HealthCheckResult.Unhealthy($"not ready: {n}")
            : redisOutage is { } r ? HealthCheckResult.Unhealthy($"Redis unavailable, consumption paused and retrying: {r}")
            : HealthCheckResult.Healthy());
}

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Streaming.Shared.Hosting;

/// <summary>
/// What every Streaming service shares (after eShop's ServiceDefaults): health endpoints (<c>/health</c>
/// readiness: every check; <c>/alive</c> liveness: only the "live" ones), Prometheus metrics at
/// <c>/metrics</c>, and <see cref="TimeProvider"/>.
/// </summary>
public static class ServiceDefaults
{
    /// <summary>Tag of the health checks that decide liveness (a failing one means: restart me).</summary>
    public const string LiveTag = "live";

    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        KeepThreadsReady();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);
        return builder;
    }

    /// <summary>
    /// Raises the thread pool's floor. A consume loop waits for its batch's Redis and Kafka acknowledgements,
    /// whose continuations need pool threads; on a 2-core machine the pool starts with 2 and adds one about
    /// every half second when they are busy, which showed as 0.5-1 s stalls at the start of every burst
    /// (StackExchange.Redis gives the same advice for its timeouts).
    /// </summary>
    public static void KeepThreadsReady()
    {
        ThreadPool.GetMinThreads(out int workers, out int completionPorts);
        int floor = Math.Max(16, 4 * Environment.ProcessorCount);
        ThreadPool.SetMinThreads(Math.Max(workers, floor), Math.Max(completionPorts, floor));
    }

    /// <summary>Binds section <paramref name="section"/> to <typeparamref name="T"/>, validated by data annotations at start-up.</summary>
    public static OptionsBuilder<T> AddValidatedOptions<T>(this IServiceCollection services, string section)
        where T : class =>
        services.AddOptions<T>().BindConfiguration(section).ValidateDataAnnotations().ValidateOnStart();

    public static WebApplication MapServiceDefaults(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapHealthChecks("/health");
        app.MapHealthChecks("/alive", new HealthCheckOptions { Predicate = check => check.Tags.Contains(LiveTag) });
        app.MapMetrics("/metrics");
        return app;
    }
}

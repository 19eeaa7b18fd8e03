using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using StackExchange.Redis;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;

namespace Streaming.Shared.Hosting;

/// <summary>What the consuming services (Ingest, Adapter) register alike: options, Redis, the retry pipeline, the producer, health.</summary>
public static class PipelineServices
{
    /// <summary>Name of the resilience pipeline for session-store reads and writes.</summary>
    public const string RedisPipeline = "redis";

    /// <summary>
    /// The <c>redis</c> pipeline: transient faults only (Redis unreachable or slow, or refusing writes for now:
    /// <see cref="IsTransient(RedisServerException)"/>), retried with capped exponential back-off for as long as it takes. The consume loop waits meanwhile, so nothing is lost, and
    /// resumes where it stopped; <paramref name="onRetry"/> reports the outage (health, metrics).
    /// </summary>
    public static ResiliencePipelineBuilder AddRedisRetry(ResiliencePipelineBuilder pipeline, Action<string> onRetry) =>
        pipeline.AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<RedisConnectionException>().Handle<RedisTimeoutException>().Handle<RedisServerException>(IsTransient),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(100),
            MaxDelay = TimeSpan.FromSeconds(5),
            UseJitter = true,
            OnRetry = args =>
            {
                onRetry(args.Outcome.Exception?.Message ?? "unknown");
                return default;
            },
        });

    /// <summary>
    /// Server errors that say "not now" rather than "never": out of memory under <c>maxmemory</c> with
    /// <c>noeviction</c> (OOM), a replica or a failed-over primary (READONLY), a failed snapshot (MISCONF),
    /// loading the data set (LOADING), a cluster without quorum or a slot migrating (CLUSTERDOWN, TRYAGAIN,
    /// MASTERDOWN), a busy script (BUSY), too few replicas (NOREPLICAS). Redis rejects such a write before it runs,
    /// a script before its first write, so retrying the batch applies nothing twice.
    /// </summary>
    public static bool IsTransient(RedisServerException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        string message = exception.Message;
        return TransientServerErrors.Any(prefix => message.StartsWith(prefix, StringComparison.Ordinal));
    }

    private static readonly string[] TransientServerErrors = ["OOM ", "READONLY ", "MISCONF ", "LOADING ", "CLUSTERDOWN ", "TRYAGAIN ", "MASTERDOWN ", "BUSY ", "NOREPLICAS "];

    /// <summary>
    /// Registers the Kafka, Redis and session options (validated at start-up), <see cref="ConsumerHealth"/>,
    /// the Redis connection (which starts even while Redis is down), the session store (<see cref="RedisSessionStore"/>), the
    /// <c>redis</c> retry pipeline (counting retries with <paramref name="countRetry"/>) and the idempotent producer.
    /// </summary>
    public static IServiceCollection AddPipelineServices(this IServiceCollection services, Action countRetry)
    {
        services.AddValidatedOptions<KafkaOptions>(KafkaOptions.Section);
        services.AddValidatedOptions<RedisOptions>(RedisOptions.Section);
        services.AddValidatedOptions<SessionStoreOptions>(SessionStoreOptions.Section);

        services.AddSingleton<ConsumerHealth>();
        services.AddHealthChecks().AddCheck<ConsumerHealth>("pipeline");
        services.AddResiliencePipeline(RedisPipeline, (pipeline, context) => AddRedisRetry(pipeline, reason =>
        {
            context.ServiceProvider.GetRequiredService<ConsumerHealth>().RedisUnavailable(reason);
            countRetry();
        }));

        services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<RedisOptions>>().Value.ToConfigurationOptions();
            options.AbortOnConnectFail = false;   // start even while Redis is down; the pipeline waits for it
            return ConnectionMultiplexer.Connect(options);
        });
        services.AddSingleton<ISessionStore>(sp => new RedisSessionStore(
            sp.GetRequiredService<IConnectionMultiplexer>(),
            sp.GetRequiredService<IOptions<SessionStoreOptions>>().Value,
            sp.GetRequiredService<IOptions<RedisOptions>>().Value.KeyPrefix,
            sp.GetService<TimeProvider>()));
        services.AddSingleton<IProducer<string?, byte[]>>(sp =>
            new ProducerBuilder<string?, byte[]>(sp.GetRequiredService<IOptions<KafkaOptions>>().Value.ProducerConfig()).Build());
        return services;
    }

    /// <summary>
    /// A service's consume loop over <paramref name="topic"/> in <paramref name="group"/>: a write that cannot be
    /// made now marks <paramref name="health"/> unhealthy and is counted (<paramref name="countKafkaRetry"/>) while
    /// the batch is retried; its success makes it healthy again. <paramref name="tick"/> runs after every batch.
    /// </summary>
    public static BatchConsumeLoop ConsumeLoop(
        KafkaOptions kafka, string group, string topic, BatchLimits limits, ConsumerHealth health, Action countKafkaRetry, ILogger logger, Action<IConsumer<string?, byte[]>>? tick = null)
    {
        ArgumentNullException.ThrowIfNull(kafka);
        ArgumentNullException.ThrowIfNull(health);
        return new BatchConsumeLoop(kafka.ConsumerConfig(group), topic, limits, logger)
        {
            Tick = tick,
            Paused = e =>
            {
                health.KafkaUnavailable(e.Message);
                countKafkaRetry();
            },
            Resumed = health.RedisAvailable,
        };
    }

    /// <summary>Stops the host when a consume loop ends with a fatal Kafka error (the orchestrator restarts it), after marking it unhealthy.</summary>
    public static void StopOnFatal(string? fatalReason, ConsumerHealth health, IHostApplicationLifetime lifetime)
    {
        ArgumentNullException.ThrowIfNull(health);
        ArgumentNullException.ThrowIfNull(lifetime);
        if (fatalReason is not null)
        {
            health.LoopFailed(fatalReason);
            Environment.ExitCode = 1;   // a failure for the orchestrator, which restarts the service
            lifetime.StopApplication();
        }
    }
}

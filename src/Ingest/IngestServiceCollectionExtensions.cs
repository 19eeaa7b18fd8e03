using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Registry;
using Polly.Retry;
using StackExchange.Redis;
using Streaming.Ingest.Processing;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Shared.Hosting;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;

namespace Streaming.Ingest;

/// <summary>Everything the Ingest service registers.</summary>
public static class IngestServiceCollectionExtensions
{
    /// <summary>Name of the resilience pipeline for session-store writes.</summary>
    public const string RedisPipeline = "redis";

    /// <summary>
    /// The <c>redis</c> pipeline: transient faults only (Redis unreachable or slow), retried with capped
    /// exponential back-off for as long as it takes. The consume loop waits meanwhile, so nothing is lost, and
    /// resumes where it stopped; <paramref name="onRetry"/> reports the outage (health, metrics).
    /// </summary>
    public static ResiliencePipelineBuilder AddRedisRetry(ResiliencePipelineBuilder pipeline, Action<string> onRetry) =>
        pipeline.AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<RedisConnectionException>().Handle<RedisTimeoutException>(),
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

    public static IHostApplicationBuilder AddIngestServices(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddValidatedOptions<KafkaOptions>(KafkaOptions.Section);
        services.AddValidatedOptions<RedisOptions>(RedisOptions.Section);
        services.AddValidatedOptions<SessionStoreOptions>(SessionStoreOptions.Section);
        services.AddValidatedOptions<IngestOptions>(IngestOptions.Section);

        services.AddSingleton<IngestHealth>();
        services.AddHealthChecks().AddCheck<IngestHealth>("ingest");

        services.AddResiliencePipeline(RedisPipeline, (pipeline, context) => AddRedisRetry(pipeline, reason =>
        {
            context.ServiceProvider.GetRequiredService<IngestHealth>().RedisUnavailable(reason);
            IngestMetrics.RedisRetries.Inc();
        }));

        services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var options = ConfigurationOptions.Parse(sp.GetRequiredService<IOptions<RedisOptions>>().Value.Configuration);
            options.AbortOnConnectFail = false;   // start even while Redis is down; the pipeline waits for it
            return ConnectionMultiplexer.Connect(options);
        });
        services.AddSingleton(sp => new RedisSessionStore(
            sp.GetRequiredService<IConnectionMultiplexer>(),
            sp.GetRequiredService<IOptions<SessionStoreOptions>>().Value,
            sp.GetRequiredService<IOptions<RedisOptions>>().Value.KeyPrefix));
        services.AddSingleton(sp =>
        {
            var catalogue = CatalogueSource.LoadItems(sp.GetRequiredService<IOptions<IngestOptions>>().Value.Catalogue);
            return new InteractionValidator(new ValidationRules(), catalogue.ContainsKey);
        });
        services.AddSingleton<IProducer<string?, byte[]>>(sp =>
        {
            var kafka = sp.GetRequiredService<IOptions<KafkaOptions>>().Value;
            return new ProducerBuilder<string?, byte[]>(new ProducerConfig(new Dictionary<string, string>(kafka.Settings))
            {
                BootstrapServers = kafka.BootstrapServers,
                Acks = Acks.All,
                EnableIdempotence = true,
                LingerMs = 2,
            }).Build();
        });
        services.AddSingleton(sp => new InteractionBatchProcessor(
            sp.GetRequiredService<InteractionValidator>(),
            sp.GetRequiredService<RedisSessionStore>(),
            new KafkaOutbox(sp.GetRequiredService<IProducer<string?, byte[]>>()),
            sp.GetRequiredService<IOptions<KafkaOptions>>().Value,
            sp.GetRequiredService<ResiliencePipelineProvider<string>>().GetPipeline(RedisPipeline)));
        services.AddHostedService<IngestWorker>();
        return builder;
    }
}

using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Polly.Registry;
using StackExchange.Redis;
using Streaming.Adapter.Models;
using Streaming.Adapter.Processing;
using Streaming.Shared.Hosting;
using Streaming.Shared.Messaging;
using Streaming.Shared.Registry;
using Streaming.Shared.Sessions;

namespace Streaming.Adapter;

/// <summary>Everything the Adapter service registers.</summary>
public static class AdapterServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddAdapterServices(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddPipelineServices(countRetry: () => AdapterMetrics.RedisRetries.Inc());
        services.AddValidatedOptions<AdapterOptions>(AdapterOptions.Section);
        services.AddSingleton<IModelSource>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<AdapterOptions>>().Value;
            if (string.IsNullOrWhiteSpace(options.Registry))
            {
                return new FileModelSource(options.Model);
            }

            try
            {
                return new RegistryModelSource(ModelRegistryFactory.OpenAsync(options.Registry, create: false, sp.GetRequiredService<TimeProvider>()).GetAwaiter().GetResult());
            }
            catch (Exception e) when (e is ArgumentException or DirectoryNotFoundException or InvalidOperationException)
            {
                throw new InvalidOperationException($"Adapter:Registry: {e.Message}", e);
            }
        });
        services.AddSingleton<ModelSlot>();
        services.AddSingleton<IFastWeightCache>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<AdapterOptions>>().Value;
            return new FastWeightCache(sp.GetRequiredService<IConnectionMultiplexer>(), options.FastWeightKeyPrefix, TimeSpan.FromSeconds(options.FastWeightTtlSeconds));
        });
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<AdapterOptions>>().Value;
            return new AdaptationBatchProcessor(
                sp.GetRequiredService<ISessionStore>(),
                sp.GetRequiredService<IFastWeightCache>(),
                new KafkaOutbox(sp.GetRequiredService<IProducer<string?, byte[]>>()),
                sp.GetRequiredService<IOptions<KafkaOptions>>().Value,
                new AdaptationSettings(options.Steps, options.TopK),
                sp.GetRequiredService<ResiliencePipelineProvider<string>>().GetPipeline(PipelineServices.RedisPipeline),
                sp.GetRequiredService<TimeProvider>());
        });

        // The loader first: its start-up loads the model that the worker serves from its first batch.
        services.AddHostedService<ModelLoader>();
        services.AddHostedService<AdapterWorker>();
        services.AddHostedService<StaleWeightSweeper>();
        return builder;
    }
}

using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Polly.Registry;
using Streaming.Ingest.Online;
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
    public static IHostApplicationBuilder AddIngestServices(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddPipelineServices(countRetry: () => IngestMetrics.RedisRetries.Inc());
        services.AddValidatedOptions<IngestOptions>(IngestOptions.Section);
        services.AddSingleton(sp => new LiveCatalogue(sp.GetRequiredService<IOptions<IngestOptions>>().Value.Catalogue));
        services.AddSingleton(sp => new InteractionValidator(new ValidationRules(), sp.GetRequiredService<LiveCatalogue>().Contains));
        services.AddHostedService(sp => new CatalogueRefresher(
            sp.GetRequiredService<LiveCatalogue>(),
            TimeSpan.FromSeconds(sp.GetRequiredService<IOptions<IngestOptions>>().Value.CatalogueRefreshSeconds),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<CatalogueRefresher>>()));
        services.AddSingleton(sp => new InteractionBatchProcessor(
            sp.GetRequiredService<InteractionValidator>(),
            sp.GetRequiredService<ISessionStore>(),
            new KafkaOutbox(sp.GetRequiredService<IProducer<string?, byte[]>>()),
            sp.GetRequiredService<IOptions<KafkaOptions>>().Value,
            sp.GetRequiredService<ResiliencePipelineProvider<string>>().GetPipeline(PipelineServices.RedisPipeline)));
        services.AddHostedService<IngestWorker>();
        if (builder.Configuration.GetValue($"{SessionStoreOptions.Section}:{nameof(SessionStoreOptions.OnlineEvaluation)}", defaultValue: true))
        {
            services.AddSingleton(sp => new ServedListProcessor(
                sp.GetRequiredService<ISessionStore>(),
                new KafkaOutbox(sp.GetRequiredService<IProducer<string?, byte[]>>()),
                sp.GetRequiredService<IOptions<KafkaOptions>>().Value,
                sp.GetRequiredService<ResiliencePipelineProvider<string>>().GetPipeline(PipelineServices.RedisPipeline)));
            services.AddHostedService<ServedListWorker>();
            services.AddHostedService<OnlineMetricsExporter>();
        }

        return builder;
    }
}

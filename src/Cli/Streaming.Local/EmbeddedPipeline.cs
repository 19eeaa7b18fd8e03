using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Streaming.Adapter;
using Streaming.Ingest;
using Streaming.Shared.Hosting;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;

namespace Streaming.Local;

/// <summary>What the embedded pipeline runs on.</summary>
/// <param name="ModelPath">The meta-model file the Adapter serves.</param>
/// <param name="Catalogue">The catalogue both services use: a data folder or "synthetic".</param>
/// <param name="Device">The Adapter's device (auto, cpu, cuda).</param>
/// <param name="Settings">Further configuration (the services' keys, e.g. <c>Adapter:TopK</c>), overriding the defaults.</param>
public sealed record EmbeddedPipelineOptions(string ModelPath, string Catalogue, string Device = "auto", IReadOnlyDictionary<string, string?>? Settings = null);

/// <summary>
/// The whole pipeline on one machine with nothing installed but redis-server: librdkafka's mock cluster as the
/// broker (<see cref="LocalKafka"/>), a private <c>redis-server</c> (<see cref="LocalRedis"/>) or, where none can
/// be had, in-memory sessions, and the Ingest and Adapter services hosted in this process with exactly the
/// registrations of their own executables, configured for low latency. For the demo and the benchmarks.
/// </summary>
public sealed class EmbeddedPipeline : IAsyncDisposable
{
    private readonly List<WebApplication> services = [];

    private EmbeddedPipeline(LocalKafka kafka, LocalRedis? redis, string? redisUnavailable, KafkaOptions topics)
    {
        Kafka = kafka;
        Redis = redis;
        RedisUnavailable = redisUnavailable;
        Topics = topics;
    }

    public LocalKafka Kafka { get; }

    /// <summary>The private Redis, or null when sessions are kept in memory (<see cref="RedisUnavailable"/> says why).</summary>
    public LocalRedis? Redis { get; }

    public string? RedisUnavailable { get; }

    /// <summary>The broker address and topic names the services use.</summary>
    public KafkaOptions Topics { get; }

    /// <summary>Where each service's /health, /alive and /metrics are served.</summary>
    public IReadOnlyDictionary<string, string> Endpoints { get; private set; } = new Dictionary<string, string>();

    /// <summary>Starts the broker and Redis (or the in-memory store); <see cref="StartServicesAsync"/> then starts the services.</summary>
    public static async Task<EmbeddedPipeline> StartInfrastructureAsync()
    {
        var kafka = LocalKafka.Start();
        var topics = new KafkaOptions { BootstrapServers = kafka.BootstrapServers };
        kafka.CreateTopics(topics.InteractionsTopic, topics.DeadLetterTopic, topics.AdaptRequestsTopic, topics.AdaptRequestsDeadLetterTopic, topics.RecommendationsTopic);
        var (redis, unavailable) = await LocalRedis.TryStartAsync().ConfigureAwait(false);
        return new EmbeddedPipeline(kafka, redis, unavailable, topics);
    }

    /// <summary>Starts Ingest and Adapter (the Adapter loads and verifies its model first).</summary>
    public async Task StartServicesAsync(EmbeddedPipelineOptions options)
    {
        var settings = Settings(options);
        var ingest = await StartServiceAsync("ingest", settings, builder => builder.AddIngestServices()).ConfigureAwait(false);
        var adapter = await StartServiceAsync("adapter", settings, builder => builder.AddAdapterServices()).ConfigureAwait(false);
        Endpoints = new Dictionary<string, string> { ["ingest"] = ingest, ["adapter"] = adapter };
    }

    /// <summary>Starts Ingest alone (for its benchmark).</summary>
    public async Task StartIngestAsync(EmbeddedPipelineOptions options)
    {
        var ingest = await StartServiceAsync("ingest", Settings(options), builder => builder.AddIngestServices()).ConfigureAwait(false);
        Endpoints = new Dictionary<string, string> { ["ingest"] = ingest };
    }

    private Dictionary<string, string?> Settings(EmbeddedPipelineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var settings = new Dictionary<string, string?>
        {
            ["Kafka:BootstrapServers"] = Kafka.BootstrapServers,
            ["Redis:Configuration"] = Redis?.Configuration ?? "unused:6379",
            ["Ingest:Catalogue"] = options.Catalogue,
            ["Ingest:MaxBatchWaitMs"] = "1",
            ["Adapter:Catalogue"] = options.Catalogue,
            ["Adapter:Model"] = options.ModelPath,
            ["Adapter:Device"] = options.Device,
            ["Adapter:MaxBatchWaitMs"] = "1",
            // Low latency on the mock broker: deliver produced messages at once, and keep fetches short. Unlike a real
            // broker, the mock one does not answer a waiting fetch when data arrives: it holds it for the whole wait, so
            // each hop paid half of fetch.wait.max.ms on average (measured with bench e2e at 10 users/s: produced p50
            // 9.4-9.9 ms at 5 ms, 3.7-5.1 ms at 1 ms). A real Kafka answers at once; the services keep its default.
            ["Kafka:ProducerSettings:linger.ms"] = "0",
            ["Kafka:ConsumerSettings:fetch.wait.max.ms"] = "1",
            ["Kafka:ConsumerSettings:fetch.error.backoff.ms"] = "5",
            ["Kafka:ConsumerSettings:fetch.queue.backoff.ms"] = "5",
            ["Logging:LogLevel:Default"] = "Error",
        };
        foreach (var (key, value) in options.Settings ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>The online figures per arm, from the session store the services use (Redis, or the in-memory one).</summary>
    public Task<IReadOnlyList<Shared.Online.ArmTally>> ReadTalliesAsync() =>
        Redis is not null ? Shared.Online.OnlineTallies.ReadAsync(Redis.Connection, new RedisOptions().KeyPrefix)
        : memorySessions?.ReadTalliesAsync() ?? Task.FromResult<IReadOnlyList<Shared.Online.ArmTally>>([]);

    public async ValueTask DisposeAsync()
    {
        foreach (var service in Enumerable.Reverse(services))
        {
            await service.StopAsync().ConfigureAwait(false);
            await service.DisposeAsync().ConfigureAwait(false);
        }

        if (Redis is not null)
        {
            await Redis.DisposeAsync().ConfigureAwait(false);
        }

        Kafka.Dispose();
    }

    private InMemorySessionStore? memorySessions;
    private InMemoryFastWeightCache? memoryCache;

    private async Task<string> StartServiceAsync(string name, Dictionary<string, string?> settings, Action<IHostApplicationBuilder> addServices)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "Streaming." + name, Args = [] });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders().AddSimpleConsole(o => o.SingleLine = true);
        builder.AddServiceDefaults();
        addServices(builder);
        if (Redis is null)
        {
            // One in-memory store shared by both services, in place of Redis.
            memorySessions ??= new InMemorySessionStore(new SessionStoreOptions(), TimeProvider.System);
            memoryCache ??= new InMemoryFastWeightCache(TimeSpan.FromHours(1), TimeProvider.System);
            builder.Services.AddSingleton<ISessionStore>(memorySessions);
            builder.Services.AddSingleton<IFastWeightCache>(memoryCache);
        }

        var app = builder.Build();
        app.MapServiceDefaults();
        await app.StartAsync().ConfigureAwait(false);
        services.Add(app);
        return app.Urls.First();
    }
}

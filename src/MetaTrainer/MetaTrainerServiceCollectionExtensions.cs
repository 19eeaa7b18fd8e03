using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using Streaming.Shared.Hosting;
using Streaming.Shared.Online;
using Streaming.Shared.Sessions;

namespace Streaming.MetaTrainer;

/// <summary>Everything the MetaTrainer registers, and its two ways of running.</summary>
public static class MetaTrainerServiceCollectionExtensions
{
    /// <summary>The command-line flag of one-run mode.</summary>
    public const string OnceFlag = "--once";

    /// <summary>The command line without <c>--once</c> (which is not a configuration key=value pair).</summary>
    public static string[] ConfigurationArguments(string[] args) =>
        [.. (args ?? []).Where(a => !string.Equals(a, OnceFlag, StringComparison.Ordinal))];

    /// <summary>Registers options (validated), the Redis connection, the session scanner and the training cycle; the periodic worker unless in one-run mode.</summary>
    /// <param name="builder">The host builder.</param>
    /// <param name="args">The command line; <c>--once</c> sets <c>MetaTrainer:Once</c>.</param>
    public static IHostApplicationBuilder AddMetaTrainerServices(this IHostApplicationBuilder builder, string[] args)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if ((args ?? []).Contains(OnceFlag, StringComparer.Ordinal))
        {
            builder.Configuration[$"{MetaTrainerOptions.Section}:{nameof(MetaTrainerOptions.Once)}"] = "true";
        }

        var services = builder.Services;
        services.AddValidatedOptions<MetaTrainerOptions>(MetaTrainerOptions.Section);
        services.AddValidatedOptions<RedisOptions>(RedisOptions.Section);
        services.AddValidatedOptions<SessionStoreOptions>(SessionStoreOptions.Section);
        services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<RedisOptions>>().Value.ToConfigurationOptions();
            options.AbortOnConnectFail = false;   // start even while Redis is down; a run then fails and the next one retries
            return ConnectionMultiplexer.Connect(options);
        });
        services.AddSingleton(sp =>
        {
            var redis = sp.GetRequiredService<IOptions<RedisOptions>>().Value;
            var connection = sp.GetRequiredService<IConnectionMultiplexer>();
            return new TrainingCycle(
                sp.GetRequiredService<IOptions<MetaTrainerOptions>>().Value,
                new SessionScanner(connection, sp.GetRequiredService<IOptions<SessionStoreOptions>>().Value, redis.KeyPrefix),
                $"sessions in redis {Endpoints(redis.Configuration)} (prefix {redis.KeyPrefix})",
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<TrainingCycle>>(),
                () => OnlineTallies.ReadAsync(connection, redis.KeyPrefix));
        });
        services.AddSingleton<TrainerHealth>();
        services.AddHealthChecks().AddCheck<TrainerHealth>("training");
        if (!IsOnce(builder.Configuration))
        {
            services.AddHostedService<MetaTrainerWorker>();
            if (builder.Configuration[$"{MetaTrainerOptions.Section}:{nameof(MetaTrainerOptions.Policy)}"] == RolloutPolicy.Auto)
            {
                services.AddHostedService<CanaryJudgeWorker>();
            }
        }

        return builder;
    }

    /// <summary>
    /// One-run mode (<c>--once</c>): one run, a one-line summary on stdout, and the exit code 0 (published),
    /// 3 (refused by the gate) or 1 (failed, invalid configuration included). SIGTERM / Ctrl+C stop the run
    /// after its current training batch. Periodic mode: health and metrics endpoints, runs until stopped.
    /// </summary>
    public static async Task<int> RunMetaTrainerAsync(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (!IsOnce(app.Configuration))
        {
            app.MapServiceDefaults();
            await app.RunAsync().ConfigureAwait(false);
            return 0;
        }

        using var stop = new CancellationTokenSource();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; stop.Cancel(); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; stop.Cancel(); });
        TrainingCycle cycle;
        try
        {
            cycle = app.Services.GetRequiredService<TrainingCycle>();
        }
        catch (OptionsValidationException e)
        {
            await Console.Out.WriteLineAsync($"failed: invalid configuration: {string.Join("; ", e.Failures)}").ConfigureAwait(false);
            return 1;
        }
        catch (ArgumentException e)
        {
            await Console.Out.WriteLineAsync($"failed: invalid configuration: {e.Message}").ConfigureAwait(false);
            return 1;
        }

        var run = await cycle.RunAsync(stop.Token).ConfigureAwait(false);
        await Console.Out.WriteLineAsync(TrainingCycle.Summary(run)).ConfigureAwait(false);
        return TrainingCycle.ExitCode(run);
    }

    private static bool IsOnce(IConfiguration configuration) =>
        configuration.GetValue<bool>($"{MetaTrainerOptions.Section}:{nameof(MetaTrainerOptions.Once)}");

    private static string Endpoints(string configuration)
    {
        try
        {
            return Shared.Registry.ModelRegistryFactory.Endpoints(ConfigurationOptions.Parse(configuration));
        }
        catch (ArgumentException)
        {
            return configuration;
        }
    }
}

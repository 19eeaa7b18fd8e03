using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using StackExchange.Redis;
using Streaming.Shared.Online;
using Streaming.Shared.Registry;

namespace Streaming.Cli.Commands;

/// <summary>
/// The registry's live side: <c>streaming models live</c> (the online figures per version, with intervals) and
/// <c>models canary V --percent P --auto</c> (<see cref="AutoCanary"/> until it promotes or rolls back). The
/// figures are in the session store's Redis: <c>--sessions</c>, or the registry's own Redis when it is one.
/// </summary>
internal static class OnlineModelsCommands
{
    private const double TableConfidence = 0.95;

    public static Command Live()
    {
        var registry = ModelsCommand.RegistryOption(fromEnvironment: true);
        var sessions = SessionsOption();
        var prefix = PrefixOption();
        var command = new Command("live", "Online figures per served version (hit rate@K, MRR, MAE of the next interactions), with 95% intervals.") { registry, sessions, prefix };
        ModelsCommand.SetAction(command, async (parse, console, ct) =>
        {
            string target = ModelsCommand.RequireRegistry(parse, registry);
            await using var store = await ModelsCommand.OpenAsync(parse, registry);
            await using var connection = await ConnectAsync(target, parse.GetValue(sessions));
            var tallies = await OnlineTallies.ReadAsync(connection, parse.GetValue(prefix)!);
            var routing = await store.GetRoutingAsync(ct);
            if (tallies.Count == 0)
            {
                console.MarkupLineInterpolated($"No online outcomes yet (no interaction has followed a served list in {Describe(connection)}).");
                return 0;
            }

            console.Write(Table(tallies, routing));
            console.MarkupLineInterpolated($"Routing: {routing}. Intervals: Wilson (hit rate), normal (MRR, MAE); the canary's test compares mean per-user hit rates.");
            return 0;
        });
        return command;
    }

    /// <summary>
    /// The table of <c>models live</c>: one row per version and window, with 95% intervals; <paramref name="compact"/>
    /// (the demo's report, on an 80-column console) leaves out the window, the intervals and the rated count.
    /// </summary>
    public static Table Table(IReadOnlyList<ArmTally> tallies, ModelRouting? routing, bool compact = false)
    {
        ArgumentNullException.ThrowIfNull(tallies);
        var table = compact
            ? new Table().AddColumns("version", "role", "users", "events", "hit rate@K", "MRR", "MAE", "per-user hit rate")
            : new Table().AddColumns("version", "role", "window", "users", "events", "hit rate@K [[95%]]", "MRR [[95%]]", "rated", "MAE [[95%]]", "per-user hit rate");
        foreach (var t in tallies)
        {
            string role = routing is null ? "" : ModelsCommand.Role(t.Version, routing);
            string users = t.Users.ToString("N0", CultureInfo.InvariantCulture), events = t.Events.ToString("N0", CultureInfo.InvariantCulture);
            string[] cells = compact
                ? [t.Version, role, users, events, OnlineTallies.Format(t.HitRate), OnlineTallies.Format(t.Mrr), OnlineTallies.Format(t.Mae), OnlineTallies.Format(t.MeanUserHitRate)]
                : [t.Version, role, t.Window is null ? "-" : $"canary {t.Window}", users, events,
                    WithInterval(t.HitRate, t.HitRateInterval(TableConfidence)), WithInterval(t.Mrr, t.MrrInterval(TableConfidence)),
                    t.Rated.ToString("N0", CultureInfo.InvariantCulture), WithInterval(t.Mae, t.MaeInterval(TableConfidence)), OnlineTallies.Format(t.MeanUserHitRate)];
            table.AddRow([.. cells.Select(ModelsCommand.Cell)]);
        }

        return table;
    }

    /// <summary><c>--auto</c> and the options of its sequential test.</summary>
    public sealed class AutoOptions
    {
        public Option<bool> Auto { get; } = new("--auto") { Description = "After starting the canary, judge it on the live figures: promote when better, roll back when worse, at --confidence." };

        public Option<double> Confidence { get; } = new("--confidence") { Description = "Confidence of a decision (always valid: looking often does not inflate errors).", DefaultValueFactory = _ => 0.95 };

        public Option<int> MinUsers { get; } = new("--min-users") { Description = "Fewest users each of canary and active need before anything is decided.", DefaultValueFactory = _ => 100 };

        public Option<double> Interval { get; } = new("--interval") { Description = "Seconds between looks at the live figures.", DefaultValueFactory = _ => 30 };

        public Option<double> MaxMinutes { get; } = new("--max-minutes") { Description = "Stop looking after this long (the canary then keeps serving).", DefaultValueFactory = _ => 60 };

        public Option<string?> Sessions { get; } = SessionsOption();

        public Option<string> Prefix { get; } = PrefixOption();

        public void AddTo(Command command)
        {
            ArgumentNullException.ThrowIfNull(command);
            foreach (var option in new Option[] { Auto, Confidence, MinUsers, Interval, MaxMinutes, Sessions, Prefix })
            {
                command.Options.Add(option);
            }
        }

        /// <summary>Judges the canary until a decision or the time limit, printing every look; 0 unless an option is wrong.</summary>
        public async Task<int> RunAsync(ParseResult parse, IAnsiConsole console, IModelRegistry store, string registry, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(parse);
            ArgumentNullException.ThrowIfNull(console);
            var options = new CanaryJudgeOptions { Confidence = parse.GetValue(Confidence), MinUsers = parse.GetValue(MinUsers) };
            var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
            if (!System.ComponentModel.DataAnnotations.Validator.TryValidateObject(options, new(options), results, validateAllProperties: true))
            {
                throw new ArgumentException($"--confidence / --min-users: {string.Join("; ", results.Select(r => r.ErrorMessage))}");
            }

            double interval = parse.GetValue(Interval), minutes = parse.GetValue(MaxMinutes);
            if (interval <= 0 || minutes <= 0)
            {
                throw new ArgumentException("--interval and --max-minutes must be above 0");
            }

            await using var connection = await ConnectAsync(registry, parse.GetValue(Sessions));
            string prefix = parse.GetValue(Prefix)!;
            var auto = new AutoCanary(store, () => OnlineTallies.ReadAsync(connection, prefix), TrainingRunLog.For(store), options, TimeProvider.System);
            console.MarkupLineInterpolated($"Judging the canary on the live figures in {Describe(connection)} every {interval:G} s, for at most {minutes:G} min ({options.Confidence:P0} confidence, at least {options.MinUsers} users each):");
            var last = await auto.RunUntilDecidedAsync(TimeSpan.FromSeconds(interval), TimeSpan.FromMinutes(minutes), d => console.MarkupLineInterpolated($"  {d.DecidedAt:HH:mm:ss} {d.Reason}"), cancellationToken);
            var routing = await store.GetRoutingAsync(cancellationToken);
            if (last is { Action: CanaryAction.Wait })
            {
                console.MarkupLineInterpolated($"No decision within {minutes:G} min: the canary keeps serving. Routing: {routing}");
            }
            else
            {
                console.MarkupLineInterpolated($"Decided: {routing}");
            }

            return 0;
        }
    }

    private static Option<string?> SessionsOption() => new("--sessions")
    {
        Description = "The session store's Redis (a StackExchange.Redis configuration, e.g. 127.0.0.1:6379); default: the registry's Redis.",
    };

    private static Option<string> PrefixOption() => new("--prefix")
    {
        Description = "The session store's key prefix (Redis__KeyPrefix).",
        DefaultValueFactory = _ => "s",
    };

    private static async Task<ConnectionMultiplexer> ConnectAsync(string registry, string? sessions)
    {
        ConfigurationOptions options;
        if (sessions is { Length: > 0 })
        {
            options = ConfigurationOptions.Parse(sessions);
        }
        else
        {
            options = ModelRegistryFactory.Parse(registry).Redis
                ?? throw new ArgumentException("the registry is a directory: name the session store's Redis with --sessions host:port");
        }

        options.AbortOnConnectFail = true;
        try
        {
            return await ConnectionMultiplexer.ConnectAsync(options);
        }
        catch (RedisConnectionException e)
        {
            throw new InvalidOperationException($"cannot reach the session store's Redis at {ModelRegistryFactory.Endpoints(options)}: {e.Message}", e);
        }
    }

    private static string Describe(ConnectionMultiplexer connection) => $"redis {connection.Configuration.Split(',')[0]}";

    private static string WithInterval(double value, (double Low, double High) interval) =>
        double.IsNaN(value) ? "-" : $"{OnlineTallies.Format(value)} [{OnlineTallies.Format(interval.Low)}, {OnlineTallies.Format(interval.High)}]";
}

using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Streaming.Shared.Data;
using Streaming.Shared.Registry;

namespace Streaming.Cli.Commands;

/// <summary>
/// <c>streaming models list | show V | push FILE | canary V --percent P | promote V | rollback</c>: the model
/// registry, in Redis (<c>--registry redis://host:port[/prefix]</c>) or in a directory.
/// </summary>
internal static class ModelsCommand
{
    /// <summary>The environment variable that stands in for <c>--registry</c>.</summary>
    public const string RegistryVariable = "STREAMING_REGISTRY";

    /// <summary>Where to push, and the rollout requested with the push (<c>models push</c>, <c>train --registry</c>).</summary>
    public sealed record RegistryPush(string Registry, bool Promote = false, double? CanaryPercent = null, bool Force = false)
    {
        /// <summary>Throws when the options contradict each other or the registry cannot be parsed.</summary>
        public void Validate()
        {
            if (Promote && CanaryPercent is not null)
            {
                throw new ArgumentException("--promote and --canary exclude each other: a push either becomes active or a canary");
            }

            _ = ModelRegistryFactory.Parse(Registry);
        }
    }

    public static Command Create()
    {
        var command = new Command("models", "The model registry: immutable versions, the active version, a canary, rollback.")
        {
            List(), Show(), Push(), Canary(), Promote(), Rollback(), OnlineModelsCommands.Live(),
        };
        return command;
    }

    /// <summary>The <c>--registry</c> option (shared with <c>train</c>).</summary>
    public static Option<string?> RegistryOption(bool fromEnvironment) => new("--registry")
    {
        Description = $"The model registry: redis://host:port[/prefix], redis:<configuration> or a directory{(fromEnvironment ? $" (default: ${RegistryVariable})" : "")}.",
        DefaultValueFactory = fromEnvironment ? _ => Environment.GetEnvironmentVariable(RegistryVariable) : null!,
    };

    /// <summary>
    /// Pushes a model file and applies the requested rollout, printing what happened. A gate refusal leaves the
    /// version pushed and fails with the gate's reason.
    /// </summary>
    public static async Task<RegisteredModel> PushAsync(IAnsiConsole console, RegistryPush rollout, byte[] file, ModelPushOptions options)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        rollout.Validate();
        await using var store = await ModelRegistryFactory.OpenAsync(rollout.Registry, create: true);
        var plan = new RolloutPlan
        {
            Kind = rollout.Promote ? RolloutKind.Promote : rollout.CanaryPercent is not null ? RolloutKind.Canary : RolloutKind.None,
            CanaryPercent = rollout.CanaryPercent ?? 0,
            Gate = Gate(rollout.Force),
        };
        var (pushed, result) = await Gated(() => store.PushAndRollOutAsync(file, options, plan, pushed: model =>
            console.MarkupLineInterpolated($"Pushed [bold]{model.Version}[/] to {store.Description} ({model.SizeBytes:N0} bytes, sha256 {model.Sha256[..16]}...)")));
        if (plan.Kind == RolloutKind.Promote)
        {
            console.MarkupLineInterpolated($"Promoted [bold]{pushed.Version}[/]: {result.Routing}");
        }
        else if (plan.Kind == RolloutKind.Canary)
        {
            console.MarkupLineInterpolated($"Canary [bold]{pushed.Version}[/]: {result.Routing}");
        }

        return pushed;
    }

    private static Command List()
    {
        var registry = RegistryOption(fromEnvironment: true);
        var command = new Command("list", "List every version, oldest first, with its role (active, canary, previous).") { registry };
        SetAction(command, async (parse, console, ct) =>
        {
            await using var store = await OpenAsync(parse, registry);
            var models = await store.ListAsync(ct);
            var routing = await store.GetRoutingAsync(ct);
            if (models.Count == 0)
            {
                console.MarkupLineInterpolated($"No versions in {store.Description} yet; push one with: streaming models push FILE --registry ...");
                return 0;
            }

            var table = new Table().AddColumns("version", "parent", "created (UTC)", "algo/scope/steps", "data", "val MAE", "val nDCG@3", "role");
            foreach (var m in models)
            {
                table.AddRow(
                    Cell(m.Version),
                    Cell(m.ParentVersion ?? "-"),
                    Cell(m.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)),
                    Cell($"{m.Algorithm}/{m.Hyperparameters.Scope.ToString().ToLowerInvariant()}/{m.Hyperparameters.InnerSteps}"),
                    Cell(m.Training.Data),
                    Cell(Format(m.Metric(MetricNames.ValidationMae))),
                    Cell(Format(m.Metric(MetricNames.ValidationNdcg3))),
                    Cell(Role(m.Version, routing)));
            }

            console.Write(table);
            console.MarkupLineInterpolated($"Routing: {routing}");
            return 0;
        });
        return command;
    }

    private static Command Show()
    {
        var registry = RegistryOption(fromEnvironment: true);
        var version = new Argument<string>("version") { Description = "The version, e.g. v3." };
        var command = new Command("show", "Print a version's registry manifest as JSON.") { version, registry };
        SetAction(command, async (parse, console, ct) =>
        {
            await using var store = await OpenAsync(parse, registry);
            string v = parse.GetValue(version)!;
            var model = await store.FindAsync(v, ct) ?? throw UnknownVersion(v, store);
            parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(model, RegistryJson.Options));
            return 0;
        });
        return command;
    }

    private static Command Push()
    {
        var registry = RegistryOption(fromEnvironment: true);
        var file = new Argument<string>("file") { Description = "A model file written by 'streaming train'." };
        var parent = new Option<string?>("--parent") { Description = "The version this model was derived from." };
        var notes = new Option<string?>("--notes") { Description = "Free text stored with the version." };
        var metrics = new Option<string[]>("--metric") { Description = "An evaluation figure to store, NAME=VALUE (repeatable), e.g. eval.existing.mae=0.74.", Arity = ArgumentArity.ZeroOrMore };
        var (promote, canary, force) = RolloutOptions();
        var command = new Command("push", "Check a model file and store it as a new immutable version.") { file, registry, parent, notes, metrics, promote, canary, force };
        SetAction(command, async (parse, console, ct) =>
        {
            string path = parse.GetValue(file)!;
            var options = new ModelPushOptions
            {
                ParentVersion = parse.GetValue(parent),
                Notes = parse.GetValue(notes),
                Metrics = ParseMetrics(parse.GetValue(metrics) ?? []),
                Source = Path.GetFullPath(path),
            };
            string target = RequireRegistry(parse, registry);
            byte[] bytes = await File.ReadAllBytesAsync(path, ct);
            await PushAsync(console, new RegistryPush(target, parse.GetValue(promote), parse.GetValue(canary), parse.GetValue(force)), bytes, options);
            return 0;
        });
        return command;
    }

    private static Command Canary()
    {
        var registry = RegistryOption(fromEnvironment: true);
        var version = new Argument<string?>("version") { Description = "The version to try on a share of users.", Arity = ArgumentArity.ZeroOrOne };
        var percent = new Option<double?>("--percent") { Description = "Share of users (0..100, stable per user id); 0 ends the canary." };
        var clear = new Option<bool>("--clear") { Description = "End the canary: everyone gets the active version." };
        var force = new Option<bool>("--force") { Description = "Skip the quality gate (validation MAE at most 0.01 worse than the active version's)." };
        var auto = new OnlineModelsCommands.AutoOptions();
        var command = new Command("canary", "Serve a version to a stable share of users next to the active one, or end the canary; --auto then promotes or rolls it back on the live figures.") { version, registry, percent, clear, force };
        auto.AddTo(command);
        SetAction(command, async (parse, console, ct) =>
        {
            string? v = parse.GetValue(version);
            double? p = parse.GetValue(percent);
            await using var store = await OpenAsync(parse, registry);
            if (parse.GetValue(clear) || p == 0)
            {
                console.MarkupLineInterpolated($"Canary ended: {await store.ClearCanaryAsync(ct)}");
                return 0;
            }

            if (v is null || p is null)
            {
                throw new ArgumentException("canary needs a version and --percent P (or --clear)");
            }

            // Downloaded and verified (checksum, inspection) before the routing changes: a bad version is refused with the reason.
            var routing = await Gated(() => store.SetCanaryAsync(v, p.Value, Gate(parse.GetValue(force)), ct));
            console.MarkupLineInterpolated($"Canary [bold]{v}[/]: {routing}");
            return parse.GetValue(auto.Auto) ? await auto.RunAsync(parse, console, store, RequireRegistry(parse, registry), ct) : 0;
        });
        return command;
    }

    private static Command Promote()
    {
        var registry = RegistryOption(fromEnvironment: true);
        var version = new Argument<string>("version") { Description = "The version to make active." };
        var force = new Option<bool>("--force") { Description = "Skip the quality gate (validation MAE at most 0.01 worse than the active version's)." };
        var command = new Command("promote", "Make a version active for every user (the previous one is kept for rollback).") { version, registry, force };
        SetAction(command, async (parse, console, ct) =>
        {
            string v = parse.GetValue(version)!;
            await using var store = await OpenAsync(parse, registry);
            var before = await store.GetRoutingAsync(ct);
            // Downloaded and verified (checksum, inspection) before the routing changes: a bad version is refused with the reason.
            var routing = await Gated(() => store.PromoteAsync(v, Gate(parse.GetValue(force)), ct));
            if (routing.Revision == before.Revision)
            {
                console.MarkupLineInterpolated($"{v} is already active: {routing}");
            }
            else
            {
                console.MarkupLineInterpolated($"Promoted [bold]{v}[/]: {routing}");
            }
            return 0;
        });
        return command;
    }

    private static Command Rollback()
    {
        var registry = RegistryOption(fromEnvironment: true);
        var command = new Command("rollback", "Make the previously active version active again.") { registry };
        SetAction(command, async (parse, console, ct) =>
        {
            await using var store = await OpenAsync(parse, registry);
            var before = await store.GetRoutingAsync(ct);
            var routing = await store.RollbackAsync(ct);
            console.MarkupLineInterpolated($"Rolled back from {before.Active ?? "(none)"} to [bold]{routing.Active}[/]: {routing}");
            return 0;
        });
        return command;
    }

    /// <summary><c>--promote</c>, <c>--canary P</c> and <c>--force</c>, for <c>push</c> and <c>train</c>.</summary>
    public static (Option<bool> Promote, Option<double?> Canary, Option<bool> Force) RolloutOptions() =>
    (
        new Option<bool>("--promote") { Description = "Make the pushed version active (subject to the quality gate)." },
        new Option<double?>("--canary") { Description = "Serve the pushed version to this percentage of users (subject to the quality gate)." },
        new Option<bool>("--force") { Description = "Skip the quality gate (validation MAE at most 0.01 worse than the active version's)." }
    );

    // Errors are the user's to fix (unknown version, bad file, gate refusal): one line and exit code 2, as
    // Program.cs does for every command; handled here too so that in-process callers get the same output.
    internal static void SetAction(Command command, Func<ParseResult, IAnsiConsole, CancellationToken, Task<int>> action) =>
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                return await action(parse, ConsoleFor(parse.InvocationConfiguration.Output), cancellationToken);
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or InvalidOperationException or FileNotFoundException or DirectoryNotFoundException or DataFormatException)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"error: {e.Message}");
                return 2;
            }
        });

    // A terminal gets the usual console (colours, its width). Anything else (a pipe, a log, a test's writer) gets
    // plain text, wide enough that a table row stays on one line for grep.
    private static IAnsiConsole ConsoleFor(TextWriter output)
    {
        if (ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected)
        {
            return AnsiConsole.Console;
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 200;
        return console;
    }

    internal static Task<IModelRegistry> OpenAsync(ParseResult parse, Option<string?> registry) =>
        ModelRegistryFactory.OpenAsync(RequireRegistry(parse, registry));

    internal static string RequireRegistry(ParseResult parse, Option<string?> registry) =>
        parse.GetValue(registry) is { Length: > 0 } value
            ? value
            : throw new ArgumentException($"--registry is required (or set {RegistryVariable}): redis://host:port[/prefix] or a directory");

    private static PromotionGate? Gate(bool force) => force ? null : PromotionGate.Default;

    private static async Task<T> Gated<T>(Func<Task<T>> change)
    {
        try
        {
            return await change();
        }
        catch (PromotionRefusedException e)
        {
            throw new PromotionRefusedException($"{e.Message}; --force overrides the gate", e);
        }
    }

    private static ArgumentException UnknownVersion(string version, IModelRegistry store) =>
        new($"unknown model version '{version}' in {store.Description} (see: streaming models list)");

    private static Dictionary<string, double> ParseMetrics(IEnumerable<string> values)
    {
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string value in values)
        {
            int eq = value.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !double.TryParse(value.AsSpan(eq + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double number))
            {
                throw new ArgumentException($"--metric '{value}': expected NAME=NUMBER, e.g. eval.existing.mae=0.74");
            }

            metrics[value[..eq].Trim()] = number;
        }

        return metrics;
    }

    internal static string Role(string version, ModelRouting routing) =>
        version == routing.Active ? "active"
        : version == routing.Canary ? string.Create(CultureInfo.InvariantCulture, $"canary ({routing.CanaryPercent:0.##}%)")
        : routing.History.Count > 0 && version == routing.History[0] ? "previous (rollback target)"
        : "";

    private static string Format(double? value) => value is double v ? v.ToString("F4", CultureInfo.InvariantCulture) : "-";

    internal static Markup Cell(string text) => new(Markup.Escape(text));
}

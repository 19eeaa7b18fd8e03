using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;
using Streaming.Cli.Monitoring;
// Inside namespace Streaming.*, a bare "Text" is the namespace Streaming.Text (the text modality), not Spectre's widget.
using TextCell = Spectre.Console.Text;

namespace Streaming.Cli.Commands;

/// <summary>
/// <c>streaming top --metrics URL[,URL...]</c>: a live view of the pipeline from the services' Prometheus
/// endpoints (no Prometheus server needed): adaptation latency percentiles by basis, events and
/// recommendations per second, consumer lag, mean batch sizes and the models served. Every figure covers
/// the last poll interval. <c>--once</c> polls twice, one interval apart, prints one snapshot and exits.
/// </summary>
internal static class TopCommand
{
    public static Command Create()
    {
        var metrics = new Option<string>("--metrics")
        {
            Description = "Comma-separated /metrics URLs of the services, e.g. http://localhost:8080/metrics,http://localhost:8081/metrics.",
            Required = true,
        };
        var interval = new Option<double>("--interval") { Description = "Seconds between polls: the window of every rate and percentile.", DefaultValueFactory = _ => 2 };
        var once = new Option<bool>("--once") { Description = "Poll twice, one interval apart, print one snapshot and exit." };
        var command = new Command("top", "Live view of adaptation latency, throughput, lag, batch sizes and models from the services' /metrics.")
        {
            metrics, interval, once,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(
            ParseUrls(parse.GetValue(metrics)!), TimeSpan.FromSeconds(parse.GetValue(interval)), parse.GetValue(once),
            AnsiConsole.Console, TimeProvider.System, cancellationToken));
        return command;
    }

    public static IReadOnlyList<string> ParseUrls(string list)
    {
        var urls = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var url in urls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new ArgumentException($"--metrics: '{url}' is not an http(s) URL");
            }
        }

        return urls.Length > 0 ? urls : throw new ArgumentException("--metrics: no URL given");
    }

    /// <summary>Polls until cancelled (or, with <paramref name="once"/>, twice) and renders to <paramref name="console"/>. 0 when an endpoint answered.</summary>
    public static async Task<int> RunAsync(
        IReadOnlyList<string> urls, TimeSpan interval, bool once, IAnsiConsole console, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(console);
        if (interval <= TimeSpan.Zero)
        {
            throw new ArgumentException("--interval must be positive");
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(Math.Clamp(interval.TotalSeconds, 1, 10)) };
        if (once)
        {
            var snapshot = await SnapshotAsync(http, urls, interval, time, cancellationToken);
            console.Write(Render(snapshot));
            return snapshot.Endpoints.Any(e => e.Samples is not null) ? 0 : 1;
        }

        try
        {
            var (previous, taken) = await PollAsync(http, urls, time, cancellationToken);
            var first = TopStatistics.Compute(null, previous, 0);
            if (!console.Profile.Capabilities.Interactive)
            {
                // Logs and pipes: one snapshot after another, no cursor movement.
                while (true)
                {
                    await Task.Delay(interval, time, cancellationToken);
                    var (current, now) = await PollAsync(http, urls, time, cancellationToken);
                    console.Write(Render(TopStatistics.Compute(previous, current, time.GetElapsedTime(taken, now).TotalSeconds)));
                    (previous, taken) = (current, now);
                }
            }

            await console.Live(Render(first)).StartAsync(async context =>
            {
                while (true)
                {
                    await Task.Delay(interval, time, cancellationToken);
                    var (current, now) = await PollAsync(http, urls, time, cancellationToken);
                    context.UpdateTarget(Render(TopStatistics.Compute(previous, current, time.GetElapsedTime(taken, now).TotalSeconds)));
                    (previous, taken) = (current, now);
                }
            });
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C: the normal way out.
        }

        return 0;
    }

    /// <summary>Two polls, <paramref name="interval"/> apart, and the statistics of the window between them.</summary>
    public static async Task<TopSnapshot> SnapshotAsync(HttpClient http, IReadOnlyList<string> urls, TimeSpan interval, TimeProvider time, CancellationToken cancellationToken)
    {
        var (previous, taken) = await PollAsync(http, urls, time, cancellationToken);
        await Task.Delay(interval, time, cancellationToken);
        var (current, now) = await PollAsync(http, urls, time, cancellationToken);
        return TopStatistics.Compute(previous, current, time.GetElapsedTime(taken, now).TotalSeconds);
    }

    /// <summary>Scrapes every endpoint at once; one that fails is reported, not fatal.</summary>
    private static async Task<(IReadOnlyList<EndpointScrape> Scrapes, long Timestamp)> PollAsync(
        HttpClient http, IReadOnlyList<string> urls, TimeProvider time, CancellationToken cancellationToken)
    {
        long timestamp = time.GetTimestamp();
        var scrapes = await Task.WhenAll(urls.Select(async url =>
        {
            try
            {
                string text = await http.GetStringAsync(new Uri(url), cancellationToken);
                return new EndpointScrape(url, PrometheusText.Parse(text), null);
            }
            catch (Exception e) when (e is HttpRequestException or FormatException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                return new EndpointScrape(url, null, e.Message);
            }
        }));
        return (scrapes, timestamp);
    }

    public static IRenderable Render(TopSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        string window = snapshot.IsDelta ? $"last {snapshot.WindowSeconds:F1} s" : "since start";
        var table = new Table().Border(TableBorder.Rounded).Title($"streaming top ({window})").HideHeaders().AddColumn("").AddColumn("").AddColumn("");

        table.AddRow(new Markup("[bold]adaptation latency[/]"), new TextCell("basis"), new TextCell("p50 / p95 / p99 (observations)"));
        if (snapshot.Latency.Count == 0)
        {
            table.AddRow("", "", "-");
        }

        foreach (var l in snapshot.Latency)
        {
            table.AddRow("", l.Basis, $"{Ms(l.P50)} / {Ms(l.P95)} / {Ms(l.P99)} ms ({l.Observations:0})");
        }

        table.AddRow(new Markup("[bold]events/s[/]"), new TextCell("ingest"), new TextCell(Rates(snapshot.EventsPerSecond)));
        table.AddRow("", "adapt-requests", PerSecond(snapshot.AdaptRequestsPerSecond));
        table.AddRow(new Markup("[bold]recommendations/s[/]"), new TextCell("adapter"), new TextCell(Rates(snapshot.RecommendationsPerSecond)));
        table.AddRow(new Markup("[bold]consumer lag[/]"), new TextCell("ingest / adapter"), new TextCell($"{Number(snapshot.IngestLag)} / {Number(snapshot.AdapterLag)} messages"));
        table.AddRow(new Markup("[bold]mean batch[/]"), new TextCell("ingest / adapter"), new TextCell($"{Number(snapshot.IngestMeanBatchSize, "F1")} messages / {Number(snapshot.AdapterMeanBatchUsers, "F1")} users"));
        table.AddRow(new Markup("[bold]models[/]"), new TextCell("role"), new TextCell("version (instances)"));
        if (snapshot.Models.Count == 0)
        {
            table.AddRow("", "", "-");
        }

        foreach (var m in snapshot.Models)
        {
            table.AddRow("", m.Role, $"{m.Version} ({m.Instances})");
        }

        foreach (var e in snapshot.Endpoints)
        {
            table.AddRow(new TextCell("endpoint"), new TextCell(e.Url), e.Error is null ? new Markup("[green]up[/]") : new TextCell("down: " + e.Error));
        }

        return table;
    }

    private static string Ms(double? seconds) => seconds is double s ? (s * 1000).ToString("F1", CultureInfo.InvariantCulture) : "-";

    private static string Number(double? value, string format = "F0") => value is double v ? v.ToString(format, CultureInfo.InvariantCulture) : "-";

    private static string PerSecond(double? value) => value is double v ? v.ToString("F1", CultureInfo.InvariantCulture) : "-";

    private static string Rates(IReadOnlyDictionary<string, double> rates) =>
        rates.Count == 0 ? "-" : string.Join("  ", rates.Select(r => $"{r.Key} {r.Value.ToString("F1", CultureInfo.InvariantCulture)}"));
}

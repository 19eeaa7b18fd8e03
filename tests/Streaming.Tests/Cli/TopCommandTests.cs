using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using Streaming.Cli.Commands;
using Streaming.Cli.Monitoring;

namespace Streaming.Tests.Cli;

/// <summary>
/// <c>streaming top</c> against canned Prometheus text: two polls of an Ingest and an Adapter endpoint whose
/// counters and histogram buckets moved by known amounts, so every percentile, mean and rate is known.
/// </summary>
[Trait("Kind", "Unit")]
public sealed class TopCommandTests
{
    // Poll 1 and poll 2 of Ingest: +2000 applied, +0 duplicate, +20 dead-lettered, +200 adapt-requests,
    // batches: +2020 messages in +20 batches (mean 101); lag 42 then 7.
    private const string Ingest1 = """
        # HELP streaming_ingest_events_total Interaction events by outcome (applied, duplicate, dead_lettered).
        # TYPE streaming_ingest_events_total counter
        streaming_ingest_events_total{outcome="applied"} 1000
        streaming_ingest_events_total{outcome="duplicate"} 10
        streaming_ingest_events_total{outcome="dead_lettered"} 5
        # TYPE streaming_ingest_adapt_requests_total counter
        streaming_ingest_adapt_requests_total 100
        # TYPE streaming_ingest_batch_size histogram
        streaming_ingest_batch_size_sum 1015
        streaming_ingest_batch_size_count 10
        streaming_ingest_batch_size_bucket{le="+Inf"} 10
        # TYPE streaming_ingest_consumer_lag_messages gauge
        streaming_ingest_consumer_lag_messages 42
        """;

    private const string Ingest2 = """
        streaming_ingest_events_total{outcome="applied"} 3000
        streaming_ingest_events_total{outcome="duplicate"} 10
        streaming_ingest_events_total{outcome="dead_lettered"} 25
        streaming_ingest_adapt_requests_total 300
        streaming_ingest_batch_size_sum 3035
        streaming_ingest_batch_size_count 30
        streaming_ingest_batch_size_bucket{le="+Inf"} 30
        streaming_ingest_consumer_lag_messages 7
        """;

    // Adapter, within the window: 100 adapted recommendations (50 <= 10 ms, 30 <= 50 ms, 15 <= 100 ms, 5 <= 500 ms),
    // so p50 = 10 ms, p95 = 100 ms, p99 = 100 + 400 * 4/5 = 420 ms; 10 onboarding ones, all <= 10 ms (p50 5 ms).
    // Micro-batches: +500 users in +10 batches (mean 50). v2 appears as the canary.
    private const string Adapter1 = """
        # TYPE streaming_adapter_latency_seconds histogram
        streaming_adapter_latency_seconds_bucket{basis="adapted",le="0.01"} 0
        streaming_adapter_latency_seconds_bucket{basis="adapted",le="0.05"} 10
        streaming_adapter_latency_seconds_bucket{basis="adapted",le="0.1"} 20
        streaming_adapter_latency_seconds_bucket{basis="adapted",le="0.5"} 20
        streaming_adapter_latency_seconds_bucket{basis="adapted",le="+Inf"} 20
        streaming_adapter_latency_seconds_bucket{basis="onboarding",le="0.01"} 0
        streaming_adapter_latency_seconds_bucket{basis="onboarding",le="0.05"} 0
        streaming_adapter_latency_seconds_bucket{basis="onboarding",le="0.1"} 0
        streaming_adapter_latency_seconds_bucket{basis="onboarding",le="0.5"} 0
        streaming_adapter_latency_seconds_bucket{basis="onboarding",le="+Inf"} 0
        streaming_adapter_recommendations_total{basis="adapted"} 20
        streaming_adapter_recommendations_total{basis="onboarding"} 5
        streaming_adapter_batch_users_sum 20
        streaming_adapter_batch_users_count 2
        streaming_adapter_consumer_lag_messages 3
        streaming_adapter_model_info{version="v1",role="active"} 1
        """;

    private const string Adapter2 = """
        streaming_adapter_latency_seconds_bucket{basis="adapted",le="0.01"} 50
        streaming_adapter_latency_seconds_bucket{basis="adapted",le="0.05"} 90
        streaming_adapter_latency_seconds_bucket{basis="adapted",le="0.1"} 115
        streaming_adapter_latency_seconds_bucket{basis="adapted",le="0.5"} 120
        streaming_adapter_latency_seconds_bucket{basis="adapted",le="+Inf"} 120
        streaming_adapter_latency_seconds_bucket{basis="onboarding",le="0.01"} 10
        streaming_adapter_latency_seconds_bucket{basis="onboarding",le="0.05"} 10
        streaming_adapter_latency_seconds_bucket{basis="onboarding",le="0.1"} 10
        streaming_adapter_latency_seconds_bucket{basis="onboarding",le="0.5"} 10
        streaming_adapter_latency_seconds_bucket{basis="onboarding",le="+Inf"} 10
        streaming_adapter_recommendations_total{basis="adapted"} 120
        streaming_adapter_recommendations_total{basis="onboarding"} 15
        streaming_adapter_batch_users_sum 520
        streaming_adapter_batch_users_count 12
        streaming_adapter_consumer_lag_messages 9
        streaming_adapter_model_info{version="v1",role="active"} 1
        streaming_adapter_model_info{version="v2",role="canary"} 1
        """;

    private static EndpointScrape Scrape(string url, string text) => new(url, PrometheusText.Parse(text), null);

    [Fact]
    public void Parse_ReadsLabelsEscapesSpecialValuesAndTimestamps()
    {
        var samples = PrometheusText.Parse("""
            # HELP x_total A counter.
            # TYPE x_total counter
            x_total{path="/a \"b\"",note="line\nbreak"} 12.5 1700000000000
            y_bucket{le="+Inf"} +Inf
            z NaN
            w -3e2
            """);
        Assert.Equal(4, samples.Count);
        Assert.Equal("/a \"b\"", samples[0].Label("path"));
        Assert.Equal("line\nbreak", samples[0].Label("note"));
        Assert.Equal(12.5, samples[0].Value);
        Assert.True(double.IsPositiveInfinity(samples[1].Value));
        Assert.True(double.IsNaN(samples[2].Value));
        Assert.Equal(-300, samples[3].Value);
        Assert.Throws<FormatException>(() => PrometheusText.Parse("x_total{le=\"1\" 3"));
    }

    [Fact]
    public void Quantile_InterpolatesInsideTheBucketLikeHistogramQuantile()
    {
        (double, double)[] buckets = [(0.01, 50), (0.05, 80), (0.1, 95), (0.5, 100), (double.PositiveInfinity, 100)];
        Assert.Equal(0.01, TopStatistics.Quantile(0.5, buckets)!.Value, 9);
        Assert.Equal(0.1, TopStatistics.Quantile(0.95, buckets)!.Value, 9);
        Assert.Equal(0.42, TopStatistics.Quantile(0.99, buckets)!.Value, 9);
        Assert.Equal(0.5, TopStatistics.Quantile(0.99, [(0.5, 90), (double.PositiveInfinity, 100)]));   // in +Inf: the highest finite bound
        Assert.Null(TopStatistics.Quantile(0.5, [(0.5, 0), (double.PositiveInfinity, 0)]));
    }

    [Fact]
    public void Compute_TwoPolls_GivesRatesPercentilesMeansLagAndModels_AcrossInstancesAndResets()
    {
        // A second Adapter replica that restarted between the polls (its counter went down: it counts from zero).
        const string replicaB1 = "streaming_adapter_recommendations_total{basis=\"adapted\"} 500\nstreaming_adapter_model_info{version=\"v1\",role=\"active\"} 1\n";
        const string replicaB2 = "streaming_adapter_recommendations_total{basis=\"adapted\"} 30\nstreaming_adapter_model_info{version=\"v1\",role=\"active\"} 1\n";
        var before = new[] { Scrape("i", Ingest1), Scrape("a", Adapter1), Scrape("b", replicaB1) };
        var after = new[] { Scrape("i", Ingest2), Scrape("a", Adapter2), Scrape("b", replicaB2) };

        var s = TopStatistics.Compute(before, after, windowSeconds: 2);

        Assert.True(s.IsDelta);
        Assert.Equal(1000, s.EventsPerSecond["applied"]);
        Assert.Equal(0, s.EventsPerSecond["duplicate"]);
        Assert.Equal(10, s.EventsPerSecond["dead_lettered"]);
        Assert.Equal(100, s.AdaptRequestsPerSecond);
        Assert.Equal((100 + 30) / 2.0, s.RecommendationsPerSecond["adapted"]);
        Assert.Equal(5, s.RecommendationsPerSecond["onboarding"]);
        Assert.Equal(101, s.IngestMeanBatchSize);
        Assert.Equal(50, s.AdapterMeanBatchUsers);
        Assert.Equal(7, s.IngestLag);
        Assert.Equal(9, s.AdapterLag);

        var adapted = s.Latency.Single(l => l.Basis == "adapted");
        Assert.Equal(100, adapted.Observations);
        Assert.Equal(0.010, adapted.P50!.Value, 9);
        Assert.Equal(0.100, adapted.P95!.Value, 9);
        Assert.Equal(0.420, adapted.P99!.Value, 9);
        var onboarding = s.Latency.Single(l => l.Basis == "onboarding");
        Assert.Equal(0.005, onboarding.P50!.Value, 9);

        Assert.Equal([new ServedModel("v1", "active", 2), new ServedModel("v2", "canary", 1)], s.Models);
    }

    [Fact]
    public void Compute_FirstPoll_GivesPercentilesSinceStartAndNoRates()
    {
        var s = TopStatistics.Compute(null, [Scrape("a", Adapter2)], 0);
        Assert.False(s.IsDelta);
        Assert.Empty(s.RecommendationsPerSecond);
        Assert.Null(s.AdaptRequestsPerSecond);
        Assert.Equal(120, s.Latency.Single(l => l.Basis == "adapted").Observations);
        Assert.Equal(520 / 12.0, s.AdapterMeanBatchUsers!.Value, 9);
    }

    [Fact]
    public async Task Once_AgainstLiveEndpoints_PrintsTheWindowsFiguresAndExitsZero()
    {
        await using var server = await CannedMetricsServer.StartAsync(new()
        {
            ["/ingest"] = [Ingest1, Ingest2],
            ["/adapter"] = [Adapter1, Adapter2],
        });
        string urls = $"{server.BaseUrl}/ingest,{server.BaseUrl}/adapter";
        var interval = TimeSpan.FromMilliseconds(300);

        using (var http = new HttpClient())
        {
            var snapshot = await TopCommand.SnapshotAsync(http, TopCommand.ParseUrls(urls), interval, TimeProvider.System, TestContext.Current.CancellationToken);
            Assert.All(snapshot.Endpoints, e => Assert.Null(e.Error));
            Assert.True(snapshot.WindowSeconds >= interval.TotalSeconds * 0.9, $"window {snapshot.WindowSeconds} s");
            Assert.Equal(2000, snapshot.EventsPerSecond["applied"] * snapshot.WindowSeconds, 6);
            Assert.Equal(0.42, snapshot.Latency.Single(l => l.Basis == "adapted").P99!.Value, 9);
            Assert.Equal(101, snapshot.IngestMeanBatchSize);
            Assert.Equal([new ServedModel("v1", "active", 1), new ServedModel("v2", "canary", 1)], snapshot.Models);
        }

        server.Reset();
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 200;

        int exit = await TopCommand.RunAsync(TopCommand.ParseUrls(urls), interval, once: true, console, TimeProvider.System, TestContext.Current.CancellationToken);

        string text = output.ToString();
        Assert.Equal(0, exit);
        Assert.Contains("10.0 / 100.0 / 420.0 ms (100)", text, StringComparison.Ordinal);
        Assert.Contains("5.0 / 9.5 / 9.9 ms (10)", text, StringComparison.Ordinal);
        Assert.Contains("7 / 9 messages", text, StringComparison.Ordinal);
        Assert.Contains("101.0 messages / 50.0 users", text, StringComparison.Ordinal);
        Assert.Contains("v2 (1)", text, StringComparison.Ordinal);
        Assert.Contains("canary", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Once_NoEndpointAnswers_ReportsItDownAndExitsOne()
    {
        await using var server = await CannedMetricsServer.StartAsync(new());
        string url = $"{server.BaseUrl}/missing";   // 404
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Ansi = AnsiSupport.No, Interactive = InteractionSupport.No, Out = new AnsiConsoleOutput(output) });
        console.Profile.Width = 200;

        int exit = await TopCommand.RunAsync([url], TimeSpan.FromMilliseconds(50), once: true, console, TimeProvider.System, TestContext.Current.CancellationToken);

        Assert.Equal(1, exit);
        Assert.Contains("down: ", output.ToString(), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => TopCommand.ParseUrls("localhost:8080/metrics"));
    }

    /// <summary>Kestrel on a free loopback port; each path answers its texts in turn, then repeats the last.</summary>
    private sealed class CannedMetricsServer : IAsyncDisposable
    {
        private readonly WebApplication app;
        private readonly ConcurrentDictionary<string, int> served = new(StringComparer.Ordinal);

        private CannedMetricsServer(WebApplication app, string baseUrl)
        {
            this.app = app;
            BaseUrl = baseUrl;
        }

        public string BaseUrl { get; }

        public void Reset() => served.Clear();

        public static async Task<CannedMetricsServer> StartAsync(Dictionary<string, string[]> texts)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var app = builder.Build();
            CannedMetricsServer? self = null;
            app.Run(async context =>
            {
                if (!texts.TryGetValue(context.Request.Path.Value ?? "", out var answers))
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return;
                }

                int n = self!.served.AddOrUpdate(context.Request.Path.Value!, 0, (_, v) => v + 1);
                context.Response.ContentType = "text/plain; version=0.0.4";
                await context.Response.WriteAsync(answers[Math.Min(n, answers.Length - 1)]);
            });
            await app.StartAsync(TestContext.Current.CancellationToken);
            string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            self = new CannedMetricsServer(app, address);
            return self;
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}

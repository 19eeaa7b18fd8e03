using System.Text.Json;
using System.Text.RegularExpressions;
using Streaming.Cli.Monitoring;

namespace Streaming.Tests.Operations;

/// <summary>
/// The alerts, the dashboard and <c>streaming top</c> use only metrics (and labels) that the code defines, and
/// they cover what operations needs: adaptation latency against the SLO, dead letters, lag, refused models.
/// </summary>
[Trait("Kind", "Operations")]
public sealed partial class MonitoringTests
{
    /// <summary>Labels Prometheus attaches to every scraped series (ServiceMonitor / PodMonitor targets).</summary>
    private static readonly HashSet<string> TargetLabels = new(StringComparer.Ordinal) { "namespace", "pod", "job", "instance", "service", "container", "endpoint" };

    /// <summary>Metrics that other software exports, each with its source.</summary>
    private static readonly Dictionary<string, string> ExternalMetrics = new(StringComparer.Ordinal)
    {
        ["up"] = "Prometheus, per scrape target",
        ["kube_job_status_failed"] = "kube-state-metrics",
        ["kafka_consumergroup_lag"] = "Strimzi's Kafka Exporter (Kafka spec.kafkaExporter)",
    };

    private static List<(string Where, string Expression)> AlertExpressions(RenderedOverlay overlay) =>
        overlay.OfKind("PrometheusRule")
            .SelectMany(r => r.GetProperty("spec").GetProperty("groups").EnumerateArray())
            .SelectMany(g => g.GetProperty("rules").EnumerateArray())
            .Select(r => (r.TryGetProperty("alert", out var a) ? "alert " + a.GetString() : "record " + r.GetProperty("record").GetString(), r.GetProperty("expr").GetString()!))
            .ToList();

    private static HashSet<string> RecordedNames(RenderedOverlay overlay) =>
        overlay.OfKind("PrometheusRule")
            .SelectMany(r => r.GetProperty("spec").GetProperty("groups").EnumerateArray())
            .SelectMany(g => g.GetProperty("rules").EnumerateArray())
            .Where(r => r.TryGetProperty("record", out _))
            .Select(r => r.GetProperty("record").GetString()!)
            .ToHashSet(StringComparer.Ordinal);

    private static JsonDocument Dashboard(RenderedOverlay overlay)
    {
        var map = overlay.Named("ConfigMap", "streaming-dashboard");
        Assert.Equal("1", map.GetProperty("metadata").GetProperty("labels").GetProperty("grafana_dashboard").GetString());
        return JsonDocument.Parse(map.GetProperty("data").GetProperty("streaming.json").GetString()!);
    }

    private static List<(string Where, string Expression)> DashboardExpressions(JsonDocument dashboard)
    {
        var result = new List<(string, string)>();
        void Walk(JsonElement panels)
        {
            foreach (var panel in panels.EnumerateArray())
            {
                if (panel.TryGetProperty("targets", out var targets))
                {
                    result.AddRange(targets.EnumerateArray().Select(t => ("panel " + panel.GetProperty("title").GetString(), t.GetProperty("expr").GetString()!)));
                }

                if (panel.TryGetProperty("panels", out var nested))
                {
                    Walk(nested);
                }
            }
        }

        Walk(dashboard.RootElement.GetProperty("panels"));
        return result;
    }

    /// <summary>Every problem with the metrics and labels that <paramref name="expressions"/> use.</summary>
    private static List<string> Problems(IEnumerable<(string Where, string Expression)> expressions, IReadOnlyDictionary<string, DefinedMetric> defined, HashSet<string> recorded)
    {
        var problems = new List<string>();
        foreach (var (where, expression) in expressions)
        {
            foreach (var selector in PromQl.Selectors(expression).Where(s => s.Metric.Length > 0))
            {
                if (selector.Metric.Contains(':', StringComparison.Ordinal))
                {
                    if (!recorded.Contains(selector.Metric))
                    {
                        problems.Add($"{where}: recording rule {selector.Metric} is not defined");
                    }

                    continue;
                }

                if (!selector.Metric.StartsWith("streaming_", StringComparison.Ordinal))
                {
                    if (!ExternalMetrics.ContainsKey(selector.Metric))
                    {
                        problems.Add($"{where}: {selector.Metric} is neither the services' nor a known external metric");
                    }

                    continue;
                }

                var (metric, suffix, error) = Resolve(selector.Metric, defined);
                if (error is not null)
                {
                    problems.Add($"{where}: {error}");
                    continue;
                }

                foreach (var label in selector.Labels.Where(l => !TargetLabels.Contains(l) && !metric!.Labels.Contains(l) && !(l == "le" && suffix == "_bucket")))
                {
                    problems.Add($"{where}: {selector.Metric} has no label '{label}' (defined in {metric!.Source} with labels [{string.Join(", ", metric.Labels)}])");
                }
            }
        }

        return problems;
    }

    /// <summary>The defined metric behind a series name (histograms expose _bucket, _sum and _count).</summary>
    private static (DefinedMetric? Metric, string Suffix, string? Error) Resolve(string series, IReadOnlyDictionary<string, DefinedMetric> defined)
    {
        if (defined.TryGetValue(series, out var exact))
        {
            return exact.Type is "histogram" or "summary"
                ? (null, "", $"{series} is a {exact.Type}: query its _bucket, _sum or _count series")
                : (exact, "", null);
        }

        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (series.EndsWith(suffix, StringComparison.Ordinal) && defined.TryGetValue(series[..^suffix.Length], out var baseMetric))
            {
                bool fits = baseMetric.Type == "histogram" || (baseMetric.Type == "summary" && suffix != "_bucket");
                return fits ? (baseMetric, suffix, null) : (null, suffix, $"{series}: {baseMetric.Name} is a {baseMetric.Type}, it has no {suffix} series");
            }
        }

        return (null, "", $"{series} is not defined by any Create*(\"...\") call under src/");
    }

    [Fact]
    public void Catalogue_ReadsNamesTypesAndLabelsFromTheSources()
    {
        var defined = MetricCatalogue.FromSources();
        Assert.Equal("counter", defined["streaming_ingest_events_total"].Type);
        Assert.Equal(["outcome"], defined["streaming_ingest_events_total"].Labels);
        Assert.Equal("histogram", defined["streaming_ingest_batch_size"].Type);
        Assert.Empty(defined["streaming_ingest_batch_size"].Labels);

        var parsed = MetricCatalogue.FromFiles([("x.cs", """
            static readonly Histogram Latency = Metrics.CreateHistogram("a_seconds", "Help (with parentheses).",
                new HistogramConfiguration { LabelNames = ["basis"], Buckets = Histogram.ExponentialBuckets(0.001, 2, 14) });
            static readonly Gauge Info = Metrics.CreateGauge("b_info", "Model \"info\".", "version", "role");
            var notAMetric = CreateCounter(name, "help");
            """)]);
        Assert.Equal(["a_seconds", "b_info"], parsed.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["basis"], parsed["a_seconds"].Labels);
        Assert.Equal(["version", "role"], parsed["b_info"].Labels);
    }

    [Fact]
    public void PromQl_FindsMetricsAndLabelMatchers_NotFunctionsGroupingsOrDurations()
    {
        var selectors = PromQl.Selectors(
            "histogram_quantile(0.99, sum by (le, basis) (rate(streaming_adapter_latency_seconds_bucket{namespace=\"$namespace\",basis=~\"a|b\"}[$__rate_interval]))) > 0.5"
            + " or sum(x_total) / clamp_min(sum without (pod) (rate(y_total{outcome!=\"z\"}[5m] offset 1h)), 1e-9) or up{job=~'ingest'} == 0");
        Assert.Equal(["streaming_adapter_latency_seconds_bucket", "x_total", "y_total", "up"], selectors.Select(s => s.Metric));
        Assert.Equal(["namespace", "basis"], selectors[0].Labels);
        Assert.Equal(["outcome"], selectors[2].Labels);
        Assert.Equal(["job"], selectors[3].Labels);
    }

    [Fact]
    public void Alerts_UseOnlyMetricsAndLabelsTheCodeDefines()
    {
        var defined = MetricCatalogue.FromSources();
        var overlay = RenderedOverlay.Get("cpu");
        var problems = Problems(AlertExpressions(overlay), defined, RecordedNames(overlay));
        Assert.True(problems.Count == 0, "alert rules:\n  " + string.Join("\n  ", problems));
    }

    [Fact]
    public void Dashboard_UsesOnlyMetricsAndLabelsTheCodeDefines()
    {
        var defined = MetricCatalogue.FromSources();
        var overlay = RenderedOverlay.Get("cpu");
        using var dashboard = Dashboard(overlay);
        var expressions = DashboardExpressions(dashboard);
        foreach (var variable in dashboard.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray())
        {
            if (variable.TryGetProperty("definition", out var definition) && LabelValues().Match(definition.GetString()!) is { Success: true } m)
            {
                expressions.Add(("variable " + variable.GetProperty("name").GetString(), $"{m.Groups[1].Value}{{{m.Groups[2].Value}=\"x\"}}"));
            }
        }

        var problems = Problems(expressions, defined, RecordedNames(overlay));
        Assert.True(problems.Count == 0, "dashboard:\n  " + string.Join("\n  ", problems));
    }

    [Fact]
    public void TopCommand_ReadsOnlyMetricsTheCodeDefines()
    {
        var defined = MetricCatalogue.FromSources();
        var missing = TopMetrics.All.Where(m => !defined.ContainsKey(m)).ToList();
        Assert.True(missing.Count == 0, "streaming top reads metrics no service defines: " + string.Join(", ", missing));
    }

    [Fact]
    public void Alerts_CoverLatencySloDeadLettersLagAndRefusedModels()
    {
        var alerts = AlertExpressions(RenderedOverlay.Get("cpu")).Where(a => a.Where.StartsWith("alert ", StringComparison.Ordinal)).ToList();
        bool Uses(string metric, string? label = null) => alerts.Any(a => PromQl.Selectors(a.Expression).Any(s => s.Metric == metric && (label is null || s.Labels.Contains(label))));

        Assert.True(Uses("streaming_adapter_latency_seconds_bucket", "basis"), "no alert on adaptation latency");
        Assert.Contains(alerts, a => a.Expression.Contains("histogram_quantile(0.99", StringComparison.Ordinal) && a.Expression.Contains("streaming_adapter_latency_seconds_bucket", StringComparison.Ordinal));
        Assert.True(Uses("streaming_ingest_events_total", "outcome"), "no alert on the dead-letter rate");
        Assert.True(Uses("streaming_ingest_consumer_lag_messages") && Uses("streaming_adapter_consumer_lag_messages"), "no alert on consumer lag");
        Assert.True(Uses("streaming_adapter_model_loads_total", "outcome"), "no alert on refused models");

        foreach (var rule in RenderedOverlay.Get("cpu").OfKind("PrometheusRule")
            .SelectMany(r => r.GetProperty("spec").GetProperty("groups").EnumerateArray())
            .SelectMany(g => g.GetProperty("rules").EnumerateArray())
            .Where(r => r.TryGetProperty("alert", out _)))
        {
            Assert.True(rule.GetProperty("labels").TryGetProperty("severity", out _), rule.GetProperty("alert").GetString() + " has no severity");
            Assert.True(rule.GetProperty("annotations").TryGetProperty("summary", out _), rule.GetProperty("alert").GetString() + " has no summary");
        }
    }

    [Fact]
    public void Dashboard_ShowsLatencyThroughputLagBatchesAndModelVersions()
    {
        using var dashboard = Dashboard(RenderedOverlay.Get("cpu"));
        var metrics = DashboardExpressions(dashboard).SelectMany(e => PromQl.Selectors(e.Expression)).Select(s => s.Metric).ToHashSet(StringComparer.Ordinal);
        foreach (var required in new[]
        {
            "streaming_adapter_latency_seconds_bucket", "streaming_adapter_recommendations_total", "streaming_ingest_events_total",
            "streaming_ingest_consumer_lag_messages", "streaming_adapter_consumer_lag_messages", "streaming_ingest_batch_size_sum",
            "streaming_adapter_batch_users_count", "streaming_adapter_model_info",
        })
        {
            Assert.Contains(required, metrics);
        }
    }

    [Fact]
    public void Monitoring_SelectsTheServicesMetricsEndpoints()
    {
        var overlay = RenderedOverlay.Get("cpu");
        foreach (var name in new[] { "ingest", "adapter" })
        {
            var monitor = overlay.Named("ServiceMonitor", name);
            var service = overlay.Named("Service", name);
            foreach (var label in monitor.GetProperty("spec").GetProperty("selector").GetProperty("matchLabels").EnumerateObject())
            {
                Assert.Equal(label.Value.GetString(), service.GetProperty("metadata").GetProperty("labels").GetProperty(label.Name).GetString());
            }

            var endpoint = Assert.Single(monitor.GetProperty("spec").GetProperty("endpoints").EnumerateArray());
            Assert.Equal("/metrics", endpoint.GetProperty("path").GetString());
            Assert.Contains(service.GetProperty("spec").GetProperty("ports").EnumerateArray(), p => p.GetProperty("name").GetString() == endpoint.GetProperty("port").GetString());
        }
    }

    [GeneratedRegex(@"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)")]
    private static partial Regex LabelValues();
}

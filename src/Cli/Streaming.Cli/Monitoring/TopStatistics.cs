namespace Streaming.Cli.Monitoring;

/// <summary>The metric names <c>streaming top</c> reads (the tests check that the services define them).</summary>
internal static class TopMetrics
{
    public const string AdapterLatency = "streaming_adapter_latency_seconds";
    public const string AdapterBatchUsers = "streaming_adapter_batch_users";
    public const string AdapterRecommendations = "streaming_adapter_recommendations_total";
    public const string AdapterLag = "streaming_adapter_consumer_lag_messages";
    public const string AdapterModelInfo = "streaming_adapter_model_info";
    public const string IngestEvents = "streaming_ingest_events_total";
    public const string IngestAdaptRequests = "streaming_ingest_adapt_requests_total";
    public const string IngestBatchSize = "streaming_ingest_batch_size";
    public const string IngestLag = "streaming_ingest_consumer_lag_messages";

    public static readonly string[] All =
    [
        AdapterLatency, AdapterBatchUsers, AdapterRecommendations, AdapterLag, AdapterModelInfo,
        IngestEvents, IngestAdaptRequests, IngestBatchSize, IngestLag,
    ];
}

/// <summary>One poll of one endpoint: its samples, or why there are none.</summary>
internal sealed record EndpointScrape(string Url, IReadOnlyList<PrometheusSample>? Samples, string? Error);

/// <summary>Latency percentiles of one basis (seconds), over the window; null where nothing was observed.</summary>
internal sealed record LatencyPercentiles(string Basis, double Observations, double? P50, double? P95, double? P99);

/// <summary>How many scraped instances serve <see cref="Version"/> in <see cref="Role"/> (active or canary).</summary>
internal sealed record ServedModel(string Version, string Role, int Instances);

/// <summary>What <c>streaming top</c> shows for one window. Rates are per second; null: not exposed by any endpoint.</summary>
internal sealed record TopSnapshot(
    double WindowSeconds,
    bool IsDelta,
    IReadOnlyList<LatencyPercentiles> Latency,
    IReadOnlyDictionary<string, double> EventsPerSecond,
    double? AdaptRequestsPerSecond,
    IReadOnlyDictionary<string, double> RecommendationsPerSecond,
    double? IngestLag,
    double? AdapterLag,
    double? IngestMeanBatchSize,
    double? AdapterMeanBatchUsers,
    IReadOnlyList<ServedModel> Models,
    IReadOnlyList<EndpointScrape> Endpoints);

/// <summary>
/// Turns two polls of the services' /metrics into rates and percentiles over the interval between them, as
/// PromQL's <c>rate</c> and <c>histogram_quantile</c> would: counters and histogram buckets are differenced
/// per series (a series that went down was reset by a restart and counts from zero), summed over the
/// instances, and percentiles are interpolated linearly inside the bucket that holds the rank.
/// Without a previous poll, percentiles cover everything since each process started and rates are absent.
/// </summary>
internal static class TopStatistics
{
    private static readonly string[] Quantiles = ["0.5", "0.95", "0.99"];

    public static TopSnapshot Compute(IReadOnlyList<EndpointScrape>? previous, IReadOnlyList<EndpointScrape> current, double windowSeconds)
    {
        ArgumentNullException.ThrowIfNull(current);
        bool isDelta = previous is not null && windowSeconds > 0;
        var deltas = Deltas(previous, current);

        double? Rate(string name, Func<PrometheusSample, bool> filter)
        {
            var matching = deltas.Where(d => d.Sample.Name == name && filter(d.Sample)).ToList();
            return matching.Count == 0 || !isDelta ? null : matching.Sum(d => d.Delta) / windowSeconds;
        }

        IReadOnlyDictionary<string, double> RatesBy(string name, string label)
        {
            var result = new SortedDictionary<string, double>(StringComparer.Ordinal);
            if (!isDelta)
            {
                return result;
            }

            foreach (var group in deltas.Where(d => d.Sample.Name == name).GroupBy(d => d.Sample.Label(label) ?? ""))
            {
                result[group.Key] = group.Sum(d => d.Delta) / windowSeconds;
            }

            return result;
        }

        double? Mean(string histogram)
        {
            double sum = deltas.Where(d => d.Sample.Name == histogram + "_sum").Sum(d => d.Delta);
            double count = deltas.Where(d => d.Sample.Name == histogram + "_count").Sum(d => d.Delta);
            return count > 0 ? sum / count : null;
        }

        double? Gauge(string name)
        {
            var values = current.Where(e => e.Samples is not null).SelectMany(e => e.Samples!).Where(s => s.Name == name).ToList();
            return values.Count == 0 ? null : values.Sum(s => s.Value);
        }

        var latency = deltas
            .Where(d => d.Sample.Name == TopMetrics.AdapterLatency + "_bucket")
            .GroupBy(d => d.Sample.Label("basis") ?? "")
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g =>
            {
                var buckets = g.GroupBy(d => ParseLe(d.Sample.Label("le")))
                    .Select(b => (Le: b.Key, Count: b.Sum(d => d.Delta)))
                    .OrderBy(b => b.Le)
                    .ToList();
                double observations = buckets.Count == 0 ? 0 : buckets[^1].Count;
                var q = Quantiles.Select(x => Quantile(double.Parse(x, System.Globalization.CultureInfo.InvariantCulture), buckets)).ToArray();
                return new LatencyPercentiles(g.Key, observations, q[0], q[1], q[2]);
            })
            .ToList();

        var models = current.Where(e => e.Samples is not null)
            .SelectMany(e => e.Samples!.Where(s => s.Name == TopMetrics.AdapterModelInfo && s.Value > 0)
                .Select(s => (Version: s.Label("version") ?? "?", Role: s.Label("role") ?? "?", e.Url)))
            .GroupBy(m => (m.Version, m.Role))
            .Select(g => new ServedModel(g.Key.Version, g.Key.Role, g.Select(m => m.Url).Distinct(StringComparer.Ordinal).Count()))
            .OrderBy(m => m.Role == "active" ? 0 : 1).ThenBy(m => m.Version, StringComparer.Ordinal)
            .ToList();

        return new TopSnapshot(
            windowSeconds,
            isDelta,
            latency,
            RatesBy(TopMetrics.IngestEvents, "outcome"),
            Rate(TopMetrics.IngestAdaptRequests, _ => true),
            RatesBy(TopMetrics.AdapterRecommendations, "basis"),
            Gauge(TopMetrics.IngestLag),
            Gauge(TopMetrics.AdapterLag),
            Mean(TopMetrics.IngestBatchSize),
            Mean(TopMetrics.AdapterBatchUsers),
            models,
            current);
    }

    /// <summary>
    /// histogram_quantile: <paramref name="buckets"/> are cumulative counts by upper bound, ascending, the last
    /// normally +Inf. A rank in the +Inf bucket answers the highest finite bound. Null when there is no observation.
    /// </summary>
    public static double? Quantile(double q, IReadOnlyList<(double Le, double Count)> buckets)
    {
        ArgumentNullException.ThrowIfNull(buckets);
        if (buckets.Count == 0 || buckets[^1].Count <= 0)
        {
            return null;
        }

        double rank = q * buckets[^1].Count;
        int i = 0;
        while (i < buckets.Count - 1 && buckets[i].Count < rank)
        {
            i++;
        }

        if (double.IsPositiveInfinity(buckets[i].Le))
        {
            return i == 0 ? null : buckets[i - 1].Le;
        }

        double lower = i == 0 ? 0 : buckets[i - 1].Le;
        double below = i == 0 ? 0 : buckets[i - 1].Count;
        if (i == 0 && buckets[0].Le <= 0)
        {
            return buckets[0].Le;
        }

        double inBucket = buckets[i].Count - below;
        return inBucket <= 0 ? buckets[i].Le : lower + ((buckets[i].Le - lower) * (rank - below) / inBucket);
    }

    private static double ParseLe(string? le) => le switch
    {
        null => double.PositiveInfinity,
        "+Inf" or "Inf" => double.PositiveInfinity,
        _ => double.Parse(le, System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Per series: the increase over the window (the value itself without a previous poll, or after a reset).</summary>
    private static List<(PrometheusSample Sample, double Delta)> Deltas(IReadOnlyList<EndpointScrape>? previous, IReadOnlyList<EndpointScrape> current)
    {
        var before = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var endpoint in previous ?? [])
        {
            foreach (var sample in endpoint.Samples ?? [])
            {
                before[SeriesKey(endpoint.Url, sample)] = sample.Value;
            }
        }

        var result = new List<(PrometheusSample, double)>();
        foreach (var endpoint in current)
        {
            foreach (var sample in endpoint.Samples ?? [])
            {
                double delta = before.TryGetValue(SeriesKey(endpoint.Url, sample), out double old) && sample.Value >= old
                    ? sample.Value - old
                    : sample.Value;
                result.Add((sample, delta));
            }
        }

        return result;
    }

    private static string SeriesKey(string url, PrometheusSample sample) =>
        url + "\n" + sample.Name + "{" + string.Join(",", sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value)) + "}";
}

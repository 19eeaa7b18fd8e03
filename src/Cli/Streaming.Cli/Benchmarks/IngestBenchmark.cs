using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;
using Spectre.Console;
using StackExchange.Redis;
using Streaming.Local;
using Streaming.Ingest;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;
using Streaming.Shared.Sessions;

namespace Streaming.Cli.Benchmarks;

/// <summary>
/// <c>streaming bench ingest</c>: the Ingest service's sustained rate (validation, idempotent session writes
/// with the threshold policy, adapt-requests, offsets stored after each durable batch) on a backlog of
/// interaction events, next to two baselines measured in the same run on the same broker and Redis: the raw
/// consume rate of the same topic (no processing) and the raw pipelined Redis rate of the smallest write an
/// event needs (one LPUSH, pipelined in batches of the same size). Between them, the session writes alone
/// (the same events, in Ingest's batches, no Kafka) through both designs with the same semantics: the Lua
/// script Ingest uses (<see cref="RedisSessionStore"/>) and plain pipelined commands with optimistic
/// transactions (<see cref="RedisPipelinedSessionStore"/>), each with the Redis commands and Redis CPU it cost
/// per event (from <c>INFO commandstats</c> and <c>INFO cpu</c>).
/// </summary>
internal static class IngestBenchmark
{
    public sealed record Settings(int Events, int Users);

    public sealed record Result(
        int Events,
        int Users,
        string SessionStore,
        double RawConsumePerSecond,
        double RawRedisPerSecond,
        StoreRate LuaScript,
        StoreRate PipelinedCommands,
        double IngestPerSecond,
        double RatioToLowerRaw);

    /// <summary>Session writes alone through one design: events/s, Redis commands per event (inside scripts too), Redis CPU microseconds per event.</summary>
    public sealed record StoreRate(double EventsPerSecond, double CommandsPerEvent, double RedisMicrosecondsPerEvent);

    // Ingest's batch bound (its default): the session-only runs apply batches of this size.
    private static readonly int IngestBatch = new IngestOptions().MaxBatchSize;

    public static async Task<Result> RunAsync(Settings s, CancellationToken cancellationToken)
    {
        await using var pipeline = await EmbeddedPipeline.StartInfrastructureAsync();
        if (pipeline.Redis is not { } redis)
        {
            throw new InvalidOperationException($"bench ingest measures Redis writes, and no redis-server can be started here ({pipeline.RedisUnavailable})");
        }

        var items = SyntheticDataset.Generate(new SyntheticOptions()).Items.Keys.Order().ToArray();
        AnsiConsole.MarkupLineInterpolated($"Publishing {s.Events:N0} interaction events of {s.Users:N0} users to the mock broker (not timed) ...");
        Publish(pipeline.Kafka.BootstrapServers, pipeline.Topics.InteractionsTopic, s, items);

        double consume = RawConsume(pipeline.Kafka.BootstrapServers, pipeline.Topics.InteractionsTopic, s.Events);
        AnsiConsole.MarkupLineInterpolated($"  raw consume (same topic, no processing): {consume:N0} events/s");
        double writes = await RawRedisAsync(redis.Connection, s);
        AnsiConsole.MarkupLineInterpolated($"  raw pipelined Redis (one LPUSH per event, batches of 5,000): {writes:N0} writes/s");

        var interactions = Interactions(s, items);
        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{redis.Configuration},allowAdmin=true");
        var server = admin.GetServers().Single();
        var options = new SessionStoreOptions();
        var lua = await StoreAsync(new RedisSessionStore(redis.Connection, options, "bench-lua"), interactions, server);
        AnsiConsole.MarkupLineInterpolated($"  sessions only, Lua script (one call per chunk, grouped per user): {lua.EventsPerSecond:N0} events/s, {lua.CommandsPerEvent:F1} commands and {lua.RedisMicrosecondsPerEvent:F1} µs of Redis CPU per event");
        var plain = await StoreAsync(new RedisPipelinedSessionStore(redis.Connection, options, "bench-plain"), interactions, server);
        AnsiConsole.MarkupLineInterpolated($"  sessions only, plain pipelined commands (HMGET+ZMSCORE, then WATCH/MULTI/EXEC per user): {plain.EventsPerSecond:N0} events/s, {plain.CommandsPerEvent:F1} commands and {plain.RedisMicrosecondsPerEvent:F1} µs of Redis CPU per event");

        var watch = Stopwatch.StartNew();
        // Ingest's own batching defaults (the embedded pipeline waits 1 ms for the demo's latency): this measures throughput.
        var settings = new Dictionary<string, string?> { ["Ingest:MaxBatchWaitMs"] = new IngestOptions().MaxBatchWaitMs.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        await pipeline.StartIngestAsync(new EmbeddedPipelineOptions(ModelPath: "", Catalogue: "synthetic", Settings: settings));
        double startup = watch.Elapsed.TotalSeconds;
        double before = Applied();
        var first = Stopwatch.StartNew();
        bool started = false;
        while (Applied() - before < s.Events)
        {
            if (!started && Applied() > before)
            {
                first.Restart();   // time from the first applied batch: group join and start-up are not throughput
                started = true;
            }

            if (watch.Elapsed > TimeSpan.FromMinutes(10))
            {
                throw new TimeoutException($"Ingest applied {Applied() - before:N0} of {s.Events:N0} events in 10 minutes");
            }

            await Task.Delay(5, cancellationToken);
        }

        double ingest = s.Events / first.Elapsed.TotalSeconds;
        AnsiConsole.MarkupLineInterpolated($"  Ingest (validate, dedup, sessions, threshold policy, adapt-requests, offsets): {ingest:N0} events/s (start-up {startup:F1} s not counted)");
        var result = new Result(s.Events, s.Users, "redis", consume, writes, lua, plain, ingest, ingest / Math.Min(consume, writes));
        var table = new Table().AddColumns("", "events/s", "ratio");
        table.AddRow("raw consume", $"{consume:N0}", "");
        table.AddRow("raw pipelined Redis", $"{writes:N0}", "");
        table.AddRow("sessions only: plain pipelined commands", $"{plain.EventsPerSecond:N0}", $"{plain.CommandsPerEvent:F1} commands, {plain.RedisMicrosecondsPerEvent:F1} µs Redis CPU / event");
        table.AddRow("sessions only: Lua script (Ingest's)", $"{lua.EventsPerSecond:N0}", $"{lua.CommandsPerEvent:F1} commands, {lua.RedisMicrosecondsPerEvent:F1} µs Redis CPU / event");
        table.AddRow("[bold]Ingest[/]", $"[bold]{ingest:N0}[/]", $"{result.RatioToLowerRaw:F2} of the lower raw rate");
        AnsiConsole.Write(table);
        return result;
    }

    private static double Applied() => IngestMetrics.Events.WithLabels("applied").Value;

    // The published events as Ingest's validator makes them (same ids, users, items and times).
    private static List<Interaction> Interactions(Settings s, int[] items)
    {
        var start = DateTimeOffset.UnixEpoch.AddDays(20_000);
        return [.. Enumerable.Range(0, s.Events).Select(i => new Interaction($"e{i}", $"bench-{i % s.Users}", items[(i * 7) % items.Length], 1 + (i % 5), start.AddMilliseconds(i), null))];
    }

    // Ingest's way: one batch at a time, each awaited before the next.
    private static async Task<StoreRate> StoreAsync(ISessionStore store, List<Interaction> interactions, IServer server)
    {
        await server.ConfigResetStatisticsAsync();
        double cpu = await RedisCpuSecondsAsync(server);
        var watch = Stopwatch.StartNew();
        foreach (var batch in interactions.Chunk(IngestBatch))
        {
            await store.ApplyAsync(batch);
        }

        double seconds = watch.Elapsed.TotalSeconds;
        cpu = await RedisCpuSecondsAsync(server) - cpu;
        long commands = 0;
        foreach (var line in (await server.InfoRawAsync("commandstats") ?? "").Split('\n'))
        {
            // cmdstat_zadd:calls=100000,usec=...; the INFO itself and connection chatter are not the store's.
            if (line.StartsWith("cmdstat_", StringComparison.Ordinal) && !line.StartsWith("cmdstat_info:", StringComparison.Ordinal) && !line.StartsWith("cmdstat_config|", StringComparison.Ordinal)
                && line.Split(':', 2)[1].Split(',')[0] is { } calls && calls.StartsWith("calls=", StringComparison.Ordinal))
            {
                commands += long.Parse(calls["calls=".Length..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return new StoreRate(interactions.Count / seconds, (double)commands / interactions.Count, cpu * 1e6 / interactions.Count);
    }

    private static async Task<double> RedisCpuSecondsAsync(IServer server)
    {
        var cpu = (await server.InfoAsync("cpu")).SelectMany(g => g).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        return double.Parse(cpu["used_cpu_user_main_thread"], System.Globalization.CultureInfo.InvariantCulture)
            + double.Parse(cpu["used_cpu_sys_main_thread"], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void Publish(string bootstrap, string topic, Settings s, int[] items)
    {
        using var producer = new ProducerBuilder<string?, byte[]>(new ProducerConfig { BootstrapServers = bootstrap, LingerMs = 20, Acks = Acks.All, EnableIdempotence = true })
            .SetLogHandler((_, _) => { }).Build();
        var start = DateTimeOffset.UnixEpoch.AddDays(20_000);
        for (int i = 0; i < s.Events; i++)
        {
            string user = $"bench-{i % s.Users}";
            var value = JsonSerializer.SerializeToUtf8Bytes(new InteractionEvent
            {
                EventId = $"e{i}",
                UserId = user,
                ItemId = items[(i * 7) % items.Length],
                Rating = 1 + (i % 5),
                EventTime = start.AddMilliseconds(i),
            });
            while (true)
            {
                try
                {
                    producer.Produce(topic, new Message<string?, byte[]> { Key = user, Value = value });
                    break;
                }
                catch (ProduceException<string?, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(10));
                }
            }
        }

        producer.Flush(TimeSpan.FromMinutes(2));
    }

    private static double RawConsume(string bootstrap, string topic, int events)
    {
        using var consumer = new ConsumerBuilder<string?, byte[]>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "bench-raw-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Subscribe(topic);
        int read = 0;
        Stopwatch? watch = null;
        while (read < events)
        {
            if (consumer.Consume(TimeSpan.FromSeconds(10)) is { IsPartitionEOF: false })
            {
                watch ??= Stopwatch.StartNew();   // from the first message: the group join is not throughput
                read++;
            }
        }

        consumer.Close();
        return events / watch!.Elapsed.TotalSeconds;
    }

    private static async Task<double> RawRedisAsync(IConnectionMultiplexer redis, Settings s)
    {
        var db = redis.GetDatabase();
        var watch = Stopwatch.StartNew();
        const int Batch = 5000;
        for (int start = 0; start < s.Events; start += Batch)
        {
            var writes = new Task[Math.Min(Batch, s.Events - start)];
            for (int i = 0; i < writes.Length; i++)
            {
                int n = start + i;
                writes[i] = db.ListLeftPushAsync($"raw:{{bench-{n % s.Users}}}:h", $"{n}|4|{n}");
            }

            await Task.WhenAll(writes);
        }

        double rate = s.Events / watch.Elapsed.TotalSeconds;
        await Task.WhenAll(Enumerable.Range(0, s.Users).Select(u => db.KeyDeleteAsync($"raw:{{bench-{u}}}:h")));
        return rate;
    }
}

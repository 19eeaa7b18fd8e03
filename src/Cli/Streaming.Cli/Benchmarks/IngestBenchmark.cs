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
    public sealed record Settings(int Events, int Users, int BatchWaitMs);

    public sealed record Result(
        int Events,
        int Users,
        int BatchWaitMs,
        string SessionStore,
        double RawConsumePerSecond,
        double RawRedisPerSecond,
        Rate RawRedis,
        Rate LuaScript,
        Rate PipelinedCommands,
        IReadOnlyList<Round> Rounds,
        double IngestPerSecond,
        double RatioToLowerRaw,
        double IngestSecondHalfPerSecond,
        double SecondHalfRatioToLowerRaw);

    /// <summary>One round of the Redis-side runs (the figures above are the medians of the rounds).</summary>
    public sealed record Round(Rate RawRedis, Rate LuaScript, Rate PipelinedCommands);

    /// <summary>One Redis-side run: events/s, Redis commands per event (inside scripts too), Redis CPU microseconds per event.</summary>
    public sealed record Rate(double EventsPerSecond, double CommandsPerEvent, double RedisMicrosecondsPerEvent);

    // Ingest's batch bound (its default): the session-only runs apply batches of this size.
    private static readonly int IngestBatch = new IngestOptions().MaxBatchSize;

    private const int Rounds = 3;

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
        // The Redis-side runs take turns, three rounds, each figure the median of its three: on a shared
        // machine a neighbour's burst then moves one run of each, not all runs of one.
        var interactions = Interactions(s, items);
        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{redis.Configuration},allowAdmin=true");
        var server = admin.GetServers().Single();
        var options = new SessionStoreOptions();
        var rounds = new List<Round>();
        for (int round = 0; round < Rounds; round++)
        {
            var raw = await MeasureAsync(server, s.Events, () => RawRedisAsync(redis.Connection, s, round));
            var script = new RedisSessionStore(redis.Connection, options, $"bench-lua{round}");
            var lua = await MeasureAsync(server, s.Events, () => ApplyInBatchesAsync(script, interactions));
            var commands = new RedisPipelinedSessionStore(redis.Connection, options, $"bench-plain{round}");
            var plain = await MeasureAsync(server, s.Events, () => ApplyInBatchesAsync(commands, interactions));
            rounds.Add(new Round(raw, lua, plain));
        }

        // Not timed: Ingest's run starts on a keyspace like the one it would find without this bench.
        var db = redis.Connection.GetDatabase();
        await Task.WhenAll(Enumerable.Range(0, Rounds).SelectMany(round => Enumerable.Range(0, s.Users).SelectMany(u => new[]
        {
            db.KeyDeleteAsync($"raw{round}:{{bench-{u}}}:h"),
            db.KeyDeleteAsync($"bench-lua{round}:{{bench-{u}}}:m"),
            db.KeyDeleteAsync($"bench-plain{round}:{{bench-{u}}}:m"),
        })));

        var rawRedis = Median(rounds.Select(r => r.RawRedis));
        var luaRate = Median(rounds.Select(r => r.LuaScript));
        var plainRate = Median(rounds.Select(r => r.PipelinedCommands));
        double writes = rawRedis.EventsPerSecond;
        AnsiConsole.MarkupLineInterpolated($"  raw pipelined Redis (one LPUSH per event, batches of 5,000): {writes:N0} writes/s, {rawRedis.RedisMicrosecondsPerEvent:F1} µs of Redis CPU per write");
        AnsiConsole.MarkupLineInterpolated($"  sessions only, Lua script (one call per chunk, grouped per user): {luaRate.EventsPerSecond:N0} events/s, {luaRate.CommandsPerEvent:F1} commands and {luaRate.RedisMicrosecondsPerEvent:F1} µs of Redis CPU per event");
        AnsiConsole.MarkupLineInterpolated($"  sessions only, plain pipelined commands (HMGET, then WATCH/MULTI/EXEC per user): {plainRate.EventsPerSecond:N0} events/s, {plainRate.CommandsPerEvent:F1} commands and {plainRate.RedisMicrosecondsPerEvent:F1} µs of Redis CPU per event");

        var watch = Stopwatch.StartNew();
        // Ingest's own batching default unless told (the embedded pipeline waits 1 ms, for the demo's latency).
        var settings = new Dictionary<string, string?> { ["Ingest:MaxBatchWaitMs"] = s.BatchWaitMs.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        await pipeline.StartIngestAsync(new EmbeddedPipelineOptions(ModelPath: "", Catalogue: "synthetic", Settings: settings));
        double startup = watch.Elapsed.TotalSeconds;
        double before = Applied();
        var first = Stopwatch.StartNew();
        bool started = false;
        // The second half alone as well: the first batches of a fresh process run code the JIT has not optimised yet
        // (a service runs for days; the backlog lasts seconds).
        (double Applied, TimeSpan At)? half = null;
        while (Applied() - before < s.Events)
        {
            double applied = Applied() - before;
            if (!started && applied > 0)
            {
                first.Restart();   // time from the first applied batch: group join and start-up are not throughput
                started = true;
            }

            if (half is null && applied >= s.Events / 2.0)
            {
                half = (applied, first.Elapsed);
            }

            if (watch.Elapsed > TimeSpan.FromMinutes(10))
            {
                throw new TimeoutException($"Ingest applied {Applied() - before:N0} of {s.Events:N0} events in 10 minutes");
            }

            await Task.Delay(5, cancellationToken);
        }

        var elapsed = first.Elapsed;
        double ingest = s.Events / elapsed.TotalSeconds;
        var (halfApplied, halfAt) = half ?? (0, TimeSpan.Zero);
        double secondHalf = (s.Events - halfApplied) / (elapsed - halfAt).TotalSeconds;
        double lower = Math.Min(consume, writes);
        AnsiConsole.MarkupLineInterpolated($"  Ingest (validate, dedup, sessions, threshold policy, adapt-requests, offsets; batches wait up to {s.BatchWaitMs} ms): {ingest:N0} events/s (start-up {startup:F1} s not counted); its second half alone {secondHalf:N0} events/s");
        var result = new Result(s.Events, s.Users, s.BatchWaitMs, "redis", consume, writes, rawRedis, luaRate, plainRate, rounds, ingest, ingest / lower, secondHalf, secondHalf / lower);
        var table = new Table().AddColumns("", "events/s", "ratio");
        table.AddRow("raw consume", $"{consume:N0}", "");
        table.AddRow("raw pipelined Redis", $"{writes:N0}", $"{rawRedis.CommandsPerEvent:F1} commands, {rawRedis.RedisMicrosecondsPerEvent:F1} µs Redis CPU / event");
        table.AddRow("sessions only: plain pipelined commands", $"{plainRate.EventsPerSecond:N0}", $"{plainRate.CommandsPerEvent:F1} commands, {plainRate.RedisMicrosecondsPerEvent:F1} µs Redis CPU / event");
        table.AddRow("sessions only: Lua script (Ingest's)", $"{luaRate.EventsPerSecond:N0}", $"{luaRate.CommandsPerEvent:F1} commands, {luaRate.RedisMicrosecondsPerEvent:F1} µs Redis CPU / event");
        table.AddRow("[bold]Ingest[/]", $"[bold]{ingest:N0}[/]", $"{result.RatioToLowerRaw:F2} of the lower raw rate");
        table.AddRow("Ingest, second half of the backlog", $"{secondHalf:N0}", $"{result.SecondHalfRatioToLowerRaw:F2} of the lower raw rate");
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
    private static async Task ApplyInBatchesAsync(ISessionStore store, List<Interaction> interactions)
    {
        foreach (var batch in interactions.Chunk(IngestBatch))
        {
            await store.ApplyAsync(batch);
        }
    }

    // The run's rate, with the Redis commands (every one, inside scripts too) and Redis CPU it took per event.
    private static async Task<Rate> MeasureAsync(IServer server, int events, Func<Task> run)
    {
        await server.ConfigResetStatisticsAsync();
        double cpu = await RedisCpuSecondsAsync(server);
        var watch = Stopwatch.StartNew();
        await run();
        double seconds = watch.Elapsed.TotalSeconds;
        cpu = await RedisCpuSecondsAsync(server) - cpu;
        long commands = 0;
        foreach (var line in (await server.InfoRawAsync("commandstats") ?? "").Split('\n'))
        {
            // cmdstat_zadd:calls=100000,usec=...; the INFO and CONFIG of this measurement are not the run's.
            if (line.StartsWith("cmdstat_", StringComparison.Ordinal) && !line.StartsWith("cmdstat_info:", StringComparison.Ordinal) && !line.StartsWith("cmdstat_config|", StringComparison.Ordinal)
                && line.Split(':', 2)[1].Split(',')[0] is { } calls && calls.StartsWith("calls=", StringComparison.Ordinal))
            {
                commands += long.Parse(calls["calls=".Length..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return new Rate(events / seconds, (double)commands / events, cpu * 1e6 / events);
    }

    private static Rate Median(IEnumerable<Rate> rates)
    {
        var sorted = rates.ToArray();
        double Middle(Func<Rate, double> of) => sorted.Select(of).Order().ElementAt(sorted.Length / 2);
        return new Rate(Middle(r => r.EventsPerSecond), Middle(r => r.CommandsPerEvent), Middle(r => r.RedisMicrosecondsPerEvent));
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
        var quiet = Stopwatch.StartNew();
        while (read < events)
        {
            if (consumer.Consume(TimeSpan.FromSeconds(1)) is { IsPartitionEOF: false })
            {
                watch ??= Stopwatch.StartNew();   // from the first message: the group join is not throughput
                read++;
                quiet.Restart();
            }
            else if (quiet.Elapsed > TimeSpan.FromSeconds(15))
            {
                // librdkafka's mock cluster keeps at most 5 MB (or 100,000 message sets) per partition and drops the
                // oldest beyond that: a larger backlog is not all there to read.
                throw new InvalidOperationException(
                    $"read {read:N0} of {events:N0} events and no more came for 15 s: the mock broker keeps at most 5 MB per partition, so a backlog this large lost its oldest events; use a smaller --events (the default 100,000 fits)");
            }
        }

        consumer.Close();
        return events / watch!.Elapsed.TotalSeconds;
    }

    private static async Task RawRedisAsync(IConnectionMultiplexer redis, Settings s, int round)
    {
        var db = redis.GetDatabase();
        for (int start = 0; start < s.Events; start += IngestBatch)
        {
            var writes = new Task[Math.Min(IngestBatch, s.Events - start)];
            for (int i = 0; i < writes.Length; i++)
            {
                int n = start + i;
                writes[i] = db.ListLeftPushAsync($"raw{round}:{{bench-{n % s.Users}}}:h", $"{n}|4|{n}");
            }

            await Task.WhenAll(writes);
        }
    }
}

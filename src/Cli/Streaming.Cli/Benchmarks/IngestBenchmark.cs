using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;
using Spectre.Console;
using StackExchange.Redis;
using Streaming.Local;
using Streaming.Ingest;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;

namespace Streaming.Cli.Benchmarks;

/// <summary>
/// <c>streaming bench ingest</c>: the Ingest service's sustained rate (validation, idempotent session writes
/// with the threshold policy, adapt-requests, offsets stored after each durable batch) on a backlog of
/// interaction events, next to two baselines measured in the same run on the same broker and Redis: the raw
/// consume rate of the same topic (no processing) and the raw pipelined Redis rate of the smallest write an
/// event needs (one LPUSH, pipelined in batches of the same size).
/// </summary>
internal static class IngestBenchmark
{
    public sealed record Settings(int Events, int Users);

    public sealed record Result(int Events, int Users, string SessionStore, double RawConsumePerSecond, double RawRedisPerSecond, double IngestPerSecond, double RatioToLowerRaw);

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

        var watch = Stopwatch.StartNew();
        await pipeline.StartIngestAsync(new EmbeddedPipelineOptions(ModelPath: "", Catalogue: "synthetic"));
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
        var result = new Result(s.Events, s.Users, "redis", consume, writes, ingest, ingest / Math.Min(consume, writes));
        var table = new Table().AddColumns("", "events/s", "ratio");
        table.AddRow("raw consume", $"{consume:N0}", "");
        table.AddRow("raw pipelined Redis", $"{writes:N0}", "");
        table.AddRow("[bold]Ingest[/]", $"[bold]{ingest:N0}[/]", $"{result.RatioToLowerRaw:F2} of the lower raw rate");
        AnsiConsole.Write(table);
        return result;
    }

    private static double Applied() => IngestMetrics.Events.WithLabels("applied").Value;

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

using System.CommandLine;
using System.Text;
using Confluent.Kafka;

namespace Streaming.Cli.Commands;

/// <summary><c>streaming consume</c>: prints a topic's messages (by default <c>recommendations</c>) as JSON lines.</summary>
internal static class ConsumeCommand
{
    public static Command Create()
    {
        var bootstrap = new Option<string>("--bootstrap") { Description = "Kafka bootstrap servers (host:port,...).", Required = true };
        var topic = new Option<string>("--topic") { Description = "Topic to read.", DefaultValueFactory = _ => "recommendations" };
        var fromBeginning = new Option<bool>("--from-beginning") { Description = "Start at the oldest message (default: only new ones)." };
        var max = new Option<int?>("--max") { Description = "Stop after this many messages." };
        var idle = new Option<double?>("--idle-exit") { Description = "Stop after this many seconds without a message." };
        var command = new Command("consume", "Print messages of a topic (recommendations by default), one JSON object per line.")
        {
            bootstrap, topic, fromBeginning, max, idle,
        };
        command.SetAction((parse, cancellationToken) => Task.FromResult(Run(
            parse.GetValue(bootstrap)!, parse.GetValue(topic)!, parse.GetValue(fromBeginning), parse.GetValue(max), parse.GetValue(idle), Console.Out, cancellationToken)));
        return command;
    }

    public static int Run(string bootstrap, string topic, bool fromBeginning, int? max, double? idleSeconds, TextWriter output, CancellationToken cancellationToken)
    {
        // A private group: reading never moves anyone else's offsets.
        using var consumer = new ConsumerBuilder<string?, byte[]>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "streaming-consume-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = fromBeginning ? AutoOffsetReset.Earliest : AutoOffsetReset.Latest,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Subscribe(topic);
        int count = 0;
        var lastMessage = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            while (!cancellationToken.IsCancellationRequested && (max is null || count < max))
            {
                if (idleSeconds is double idle && lastMessage.Elapsed.TotalSeconds > idle)
                {
                    break;
                }

                var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (result is null || result.IsPartitionEOF)
                {
                    continue;
                }

                // The value is JSON already (contracts v1); anything else is printed as a JSON string.
                string value = Encoding.UTF8.GetString(result.Message.Value ?? []);
                string json = value.TrimStart().StartsWith('{') ? value : System.Text.Json.JsonSerializer.Serialize(value);
                output.WriteLine($"{{\"key\":{System.Text.Json.JsonSerializer.Serialize(result.Message.Key)},\"partition\":{result.Partition.Value},\"offset\":{result.Offset.Value},\"value\":{json}}}");
                count++;
                lastMessage.Restart();
            }
        }
        finally
        {
            consumer.Close();
        }

        return 0;
    }
}

using System.CommandLine;
using Confluent.Kafka;

namespace Streaming.Cli.Commands;

/// <summary>
/// <c>streaming mock-broker</c>: runs librdkafka's built-in mock cluster (a real Kafka wire-protocol broker on
/// loopback) until stopped, and prints <c>bootstrap=HOST:PORT</c> for other processes to connect to. For the
/// embedded demo and end-to-end tests on machines without a Kafka broker; never for production.
/// </summary>
internal static class MockBrokerCommand
{
    public static Command Create()
    {
        var brokers = new Option<int>("--brokers") { Description = "Number of mock brokers.", DefaultValueFactory = _ => 1 };
        var command = new Command("mock-broker", "Run an in-memory Kafka mock cluster (librdkafka) until stopped; prints its bootstrap address.") { brokers };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var config = new AdminClientConfig();
            config.Set("test.mock.num.brokers", parse.GetValue(brokers).ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var owner = new AdminClientBuilder(config).SetLogHandler((_, _) => { }).Build();
            var metadata = owner.GetMetadata(TimeSpan.FromSeconds(10));
            Console.WriteLine("bootstrap=" + string.Join(",", metadata.Brokers.Select(b => $"{b.Host}:{b.Port}")));
            Console.Out.Flush();
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
            }

            return 0;
        });
        return command;
    }
}

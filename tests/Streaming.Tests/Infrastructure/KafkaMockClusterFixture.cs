using Confluent.Kafka;
using Streaming.Local;

namespace Streaming.Tests.Infrastructure;

/// <summary>
/// librdkafka's built-in mock cluster (a real Kafka wire-protocol broker on loopback), run by
/// <c>streaming mock-broker</c> (<see cref="LocalKafka"/>) for the lifetime of a test class; clients connect to <see cref="BootstrapServers"/>.
/// Topics are auto-created with 4 partitions when first produced to (the mock has no CreateTopics); a consumer
/// sees a topic created after it subscribed only at its next metadata refresh, so tests produce first.
/// Tests use unique topic names so they can run in parallel.
/// </summary>
public sealed class KafkaMockClusterFixture : IDisposable
{
    private readonly LocalKafka broker = LocalKafka.Start(Path.Combine(AppContext.BaseDirectory, "..", "..", "Streaming.Cli", "release", "streaming.dll"));

    public string BootstrapServers => broker.BootstrapServers;

    /// <summary>Creates topics before services subscribe to them (see <see cref="LocalKafka.CreateTopics"/>).</summary>
    public void CreateTopics(params IEnumerable<string> topics) => broker.CreateTopics(topics);

    /// <summary>Reads every message of <paramref name="topic"/> until <paramref name="expected"/> arrived or the timeout passed.</summary>
    public List<ConsumeResult<string?, byte[]>> ReadAll(string topic, int expected, TimeSpan timeout) =>
        ReadUntil(topic, read => read.Count >= expected, timeout);

    /// <summary>Reads <paramref name="topic"/> from the start until <paramref name="done"/> holds for what was read, or the timeout passed.</summary>
    public List<ConsumeResult<string?, byte[]>> ReadUntil(string topic, Func<List<ConsumeResult<string?, byte[]>>, bool> done, TimeSpan timeout)
    {
        using var consumer = new ConsumerBuilder<string?, byte[]>(new ConsumerConfig
        {
            BootstrapServers = BootstrapServers,
            GroupId = "reader-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            TopicMetadataRefreshIntervalMs = 500,   // the topic may be created while we read
        }).SetLogHandler((_, _) => { }).Build();
        consumer.Subscribe(topic);
        var messages = new List<ConsumeResult<string?, byte[]>>();
        var elapsed = System.Diagnostics.Stopwatch.StartNew();
        while (!done(messages) && elapsed.Elapsed < timeout)
        {
            try
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } m)
                {
                    messages.Add(m);
                }
            }
            catch (ConsumeException e) when (e.Error.Code == ErrorCode.UnknownTopicOrPart)
            {
                // Not created yet (topics appear with their first message).
            }
        }

        consumer.Close();
        return messages;
    }

    public IProducer<string?, byte[]> Producer() =>
        new ProducerBuilder<string?, byte[]>(new ProducerConfig { BootstrapServers = BootstrapServers, Acks = Acks.All, EnableIdempotence = true })
            .SetLogHandler((_, _) => { }).Build();

    public void Dispose() => broker.Dispose();
}

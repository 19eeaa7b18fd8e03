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

    /// <summary>
    /// Reads <paramref name="topic"/> from the start until <paramref name="done"/> holds for what was read, or the timeout passed.
    /// <para>
    /// The reader assigns itself every partition from the beginning; it joins no consumer group. A group reader
    /// made the tests depend on the mock's group coordinator: the first join of a group waits 3 s, and a rejoin
    /// (a metadata change, a join that crossed a slow moment) waits for the member's session timeout less 1 s,
    /// 44 s with the default 45 s, longer than any read's timeout: "0 of 30 messages in 30 s" on a busy machine.
    /// </para>
    /// </summary>
    public List<ConsumeResult<string?, byte[]>> ReadUntil(string topic, Func<List<ConsumeResult<string?, byte[]>>, bool> done, TimeSpan timeout)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = BootstrapServers }).SetLogHandler((_, _) => { }).Build();
        using var consumer = new ConsumerBuilder<string?, byte[]>(new ConsumerConfig
        {
            BootstrapServers = BootstrapServers,
            GroupId = "reader",   // required by the client; never joined (no Subscribe, no commit)
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
        }).SetLogHandler((_, _) => { }).Build();
        var messages = new List<ConsumeResult<string?, byte[]>>();
        var elapsed = System.Diagnostics.Stopwatch.StartNew();
        while (!done(messages) && elapsed.Elapsed < timeout)
        {
            if (consumer.Assignment.Count == 0)
            {
                // The mock creates a topic asked for by an admin client (as CreateTopics does) with the 4 partitions a
                // first produce would give it, and never changes a topic's partitions: one assignment holds.
                var partitions = Partitions(admin, topic);
                if (partitions.Count == 0)
                {
                    Thread.Sleep(100);
                    continue;
                }

                consumer.Assign(partitions.Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
            }

            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } m)
            {
                messages.Add(m);
            }
        }

        return messages;
    }

    private static List<Partition> Partitions(IAdminClient admin, string topic)
    {
        try
        {
            var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(5));
            return metadata.Topics.SingleOrDefault(t => t.Topic == topic) is { Error.IsError: false } found
                ? [.. found.Partitions.Select(p => new Partition(p.PartitionId))]
                : [];
        }
        catch (KafkaException)
        {
            return [];
        }
    }

    public IProducer<string?, byte[]> Producer() =>
        new ProducerBuilder<string?, byte[]>(new ProducerConfig { BootstrapServers = BootstrapServers, Acks = Acks.All, EnableIdempotence = true })
            .SetLogHandler((_, _) => { }).Build();

    public void Dispose() => broker.Dispose();
}

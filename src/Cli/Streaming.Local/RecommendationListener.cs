using System.Text.Json;
using Confluent.Kafka;
using Streaming.Shared.Contracts;

namespace Streaming.Local;

/// <summary>One recommendation as a consuming service received it.</summary>
public sealed record ReceivedRecommendation(RecommendationMessage Message, DateTimeOffset ReceivedAt)
{
    /// <summary>From the triggering interaction's event time to its recommendation arriving at the consumer.</summary>
    public TimeSpan Latency => ReceivedAt - Message.TriggerEventTime;
}

/// <summary>
/// A consumer of the recommendations topic, as a downstream service would run one: reads from the start in
/// its own group on a background thread and keeps everything it received, stamped with the arrival time.
/// </summary>
public sealed class RecommendationListener : IDisposable
{
    private readonly List<ReceivedRecommendation> received = [];
    private readonly CancellationTokenSource stop = new();
    private readonly Thread thread;

    public RecommendationListener(string bootstrapServers, string topic, TimeProvider time)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = bootstrapServers,
            GroupId = "listener-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            FetchWaitMaxMs = 5,
            TopicMetadataRefreshIntervalMs = 500,   // the topic appears with the first recommendation
        };
        thread = new Thread(() => Listen(config, topic, time)) { IsBackground = true, Name = "recommendation-listener" };
        thread.Start();
    }

    public int Count
    {
        get
        {
            lock (received)
            {
                return received.Count;
            }
        }
    }

    /// <summary>Everything received so far.</summary>
    public IReadOnlyList<ReceivedRecommendation> Snapshot()
    {
        lock (received)
        {
            return [.. received];
        }
    }

    public void Dispose()
    {
        stop.Cancel();
        thread.Join();
        stop.Dispose();
    }

    private void Listen(ConsumerConfig config, string topic, TimeProvider time)
    {
        using var consumer = new ConsumerBuilder<string?, byte[]>(config).SetLogHandler((_, _) => { }).SetErrorHandler((_, _) => { }).Build();
        consumer.Subscribe(topic);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { IsPartitionEOF: false } result)
                {
                    var message = JsonSerializer.Deserialize<RecommendationMessage>(result.Message.Value)!;
                    lock (received)
                    {
                        received.Add(new ReceivedRecommendation(message, time.GetUtcNow()));
                    }
                }
            }
            catch (ConsumeException e) when (!e.Error.IsFatal)
            {
                stop.Token.WaitHandle.WaitOne(100);   // the topic does not exist yet
            }
        }

        consumer.Close();
    }
}

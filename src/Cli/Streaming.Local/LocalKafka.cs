using System.Diagnostics;
using Confluent.Kafka;

namespace Streaming.Local;

/// <summary>
/// librdkafka's mock cluster (a real Kafka wire-protocol broker on loopback) in a child process running
/// <c>streaming mock-broker</c>; clients connect to <see cref="BootstrapServers"/>. Its own process because,
/// hosted inside a process that also runs consumers, its group coordinator left consumers stuck in
/// "rebalance in progress". Topics are auto-created with 4 partitions when first produced to.
/// </summary>
public sealed class LocalKafka : IDisposable
{
    private readonly Process broker;

    private LocalKafka(Process broker, string bootstrapServers)
    {
        this.broker = broker;
        BootstrapServers = bootstrapServers;
    }

    public string BootstrapServers { get; }

    /// <summary>Starts the broker process with the CLI at <paramref name="cliDll"/> (default: this CLI).</summary>
    public static LocalKafka Start(string? cliDll = null)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        // The `streaming` command hosts the mock cluster; it sits next to this library in the CLI's output folder.
        start.ArgumentList.Add(cliDll ?? Path.Combine(AppContext.BaseDirectory, "streaming.dll"));
        start.ArgumentList.Add("mock-broker");
        var broker = Process.Start(start) ?? throw new InvalidOperationException("could not start streaming mock-broker");
        broker.ErrorDataReceived += (_, _) => { };
        broker.BeginErrorReadLine();
        string? line;
        while ((line = broker.StandardOutput.ReadLine()) is not null && !line.StartsWith("bootstrap=", StringComparison.Ordinal))
        {
        }

        if (line is null)
        {
            broker.Kill(entireProcessTree: true);
            broker.Dispose();
            throw new InvalidOperationException("streaming mock-broker did not start");
        }

        return new LocalKafka(broker, line["bootstrap=".Length..]);
    }

    /// <summary>
    /// Creates <paramref name="topics"/> (4 partitions each) before anyone subscribes: the mock cluster has no
    /// controller for CreateTopics, but creates a topic when its metadata is asked for. A consumer group that
    /// subscribed to a topic before it existed otherwise waits for a rebalance when it appears.
    /// </summary>
    public void CreateTopics(params IEnumerable<string> topics)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = BootstrapServers }).SetLogHandler((_, _) => { }).Build();
        foreach (string topic in topics)
        {
            var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10));
            if (metadata.Topics.SingleOrDefault(t => t.Topic == topic) is not { Error.IsError: false, Partitions.Count: > 0 })
            {
                throw new InvalidOperationException($"the mock broker did not create topic '{topic}'");
            }
        }
    }

    public void Dispose()
    {
        broker.Kill(entireProcessTree: true);
        broker.WaitForExit();
        broker.Dispose();
    }
}

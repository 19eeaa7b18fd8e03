using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace Streaming.Shared.Messaging;

/// <summary>Configuration section <c>Kafka</c>: the broker and the topic names (env: <c>Kafka__BootstrapServers</c>, ...).</summary>
public sealed class KafkaOptions
{
    public const string Section = "Kafka";

    /// <summary>Comma-separated host:port list.</summary>
    [Required(AllowEmptyStrings = false)]
    public string BootstrapServers { get; set; } = "";

    [Required(AllowEmptyStrings = false)]
    public string InteractionsTopic { get; set; } = "interactions";

    [Required(AllowEmptyStrings = false)]
    public string DeadLetterTopic { get; set; } = "interactions.dlq";

    [Required(AllowEmptyStrings = false)]
    public string AdaptRequestsTopic { get; set; } = "adapt-requests";

    [Required(AllowEmptyStrings = false)]
    public string RecommendationsTopic { get; set; } = "recommendations";

    /// <summary>Where the Adapter puts adapt-requests it cannot read (with the reason in headers).</summary>
    [Required(AllowEmptyStrings = false)]
    public string AdaptRequestsDeadLetterTopic { get; set; } = "adapt-requests.dlq";

    /// <summary>Further librdkafka settings for every client (security, tuning), passed through unchanged.</summary>
    public Dictionary<string, string> Settings { get; set; } = [];

    /// <summary>librdkafka settings for consumers only (e.g. <c>fetch.wait.max.ms</c>), applied after <see cref="Settings"/>.</summary>
    public Dictionary<string, string> ConsumerSettings { get; set; } = [];

    /// <summary>librdkafka settings for producers only (e.g. <c>linger.ms</c>), applied after <see cref="Settings"/>.</summary>
    public Dictionary<string, string> ProducerSettings { get; set; } = [];

    /// <summary>
    /// A consumer of group <paramref name="groupId"/> for <see cref="BatchConsumeLoop"/>: offsets are stored by
    /// the loop after each durable batch and committed by auto-commit; cooperative rebalancing. <see cref="Settings"/>
    /// may tune anything except what the delivery guarantee rests on.
    /// </summary>
    public ConsumerConfig ConsumerConfig(string groupId)
    {
        var config = new ConsumerConfig
        {
            AutoCommitIntervalMs = 1000,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
            // A subscribed topic that does not exist yet (or whose first metadata lacked it) is otherwise noticed
            // only after 5 minutes; 10 s costs one small metadata request.
            TopicMetadataRefreshIntervalMs = 10_000,
        };
        Overlay(config, Settings);
        Overlay(config, ConsumerSettings);
        config.BootstrapServers = BootstrapServers;
        config.GroupId = groupId;
        config.EnableAutoOffsetStore = false;
        config.EnableAutoCommit = true;
        return config;
    }

    /// <summary>An idempotent producer (acks=all): what every service publishes with.</summary>
    public ProducerConfig ProducerConfig()
    {
        var config = new ProducerConfig { LingerMs = 2 };
        Overlay(config, Settings);
        Overlay(config, ProducerSettings);
        config.BootstrapServers = BootstrapServers;
        config.Acks = Acks.All;
        config.EnableIdempotence = true;
        return config;
    }

    private static void Overlay(ClientConfig config, Dictionary<string, string> settings)
    {
        foreach (var (key, value) in settings)
        {
            config.Set(key, value);
        }
    }
}

/// <summary>Names of the headers a dead-lettered message carries next to its unchanged key and value.</summary>
public static class DeadLetterHeaders
{
    public const string Reason = "dlq.reason";
    public const string SourceTopic = "dlq.source.topic";
    public const string SourcePartition = "dlq.source.partition";
    public const string SourceOffset = "dlq.source.offset";

    /// <summary>The headers of <paramref name="source"/> dead-lettered for <paramref name="reason"/>.</summary>
    public static Headers For(string reason, IncomingMessage source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new()
        {
            { Reason, Encoding.UTF8.GetBytes(reason) },
            { SourceTopic, Encoding.UTF8.GetBytes(source.Topic) },
            { SourcePartition, Encoding.UTF8.GetBytes(source.Partition.ToString(CultureInfo.InvariantCulture)) },
            { SourceOffset, Encoding.UTF8.GetBytes(source.Offset.ToString(CultureInfo.InvariantCulture)) },
        };
    }
}

/// <summary>One consumed message: what a batch processor needs of a Kafka record.</summary>
public sealed record IncomingMessage(string? Key, byte[] Value, string Topic, int Partition, long Offset)
{
    public static IncomingMessage From(ConsumeResult<string?, byte[]> record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return new(record.Message.Key, record.Message.Value ?? [], record.Topic, record.Partition.Value, record.Offset.Value);
    }
}

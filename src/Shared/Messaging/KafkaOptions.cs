using System.ComponentModel.DataAnnotations;

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

    /// <summary>Further librdkafka settings (security, tuning), passed through unchanged.</summary>
    public Dictionary<string, string> Settings { get; set; } = [];
}

/// <summary>Names of the headers a dead-lettered message carries next to its unchanged key and value.</summary>
public static class DeadLetterHeaders
{
    public const string Reason = "dlq.reason";
    public const string SourceTopic = "dlq.source.topic";
    public const string SourcePartition = "dlq.source.partition";
    public const string SourceOffset = "dlq.source.offset";
}

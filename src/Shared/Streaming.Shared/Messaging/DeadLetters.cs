using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Confluent.Kafka;

namespace Streaming.Shared.Messaging;

/// <summary>
/// What a dead-letter topic receives when a message cannot be read: the message unchanged (key, value) with the
/// reason and source coordinates in headers (<see cref="DeadLetterHeaders"/>); or, when that record cannot be
/// produced because of its content (larger than the producer or the topic accepts), a bounded
/// <see cref="DeadLetterEnvelope"/> in its place, so that no message content can ever stop a service.
/// </summary>
public static class DeadLetters
{
    /// <summary>Longest reason a header carries (a reason may quote the key, which may be huge).</summary>
    public const int MaxReasonChars = 1024;

    /// <summary>Longest key an envelope keeps (and uses as its own Kafka key).</summary>
    public const int MaxEnvelopeKeyChars = 256;

    /// <summary>The reason cut to <see cref="MaxReasonChars"/>, saying it was cut.</summary>
    public static string Bounded(string reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        return reason.Length <= MaxReasonChars ? reason : string.Concat(reason.AsSpan(0, MaxReasonChars), $"... ({reason.Length} characters)");
    }

    /// <summary>The bounded record that stands for <paramref name="source"/> when its dead letter itself cannot be produced.</summary>
    public static Message<string?, byte[]> Envelope(string reason, IncomingMessage source, string produceError)
    {
        ArgumentNullException.ThrowIfNull(source);
        byte[] key = source.Key is null ? [] : Encoding.UTF8.GetBytes(source.Key);
        string? truncated = source.Key is null ? null : source.Key.Length <= MaxEnvelopeKeyChars ? source.Key : source.Key[..MaxEnvelopeKeyChars];
        var envelope = new DeadLetterEnvelope
        {
            Reason = Bounded(reason),
            ProduceError = Bounded(produceError),
            SourceTopic = source.Topic,
            SourcePartition = source.Partition,
            SourceOffset = source.Offset,
            KeyBytes = source.Key is null ? null : key.Length,
            ValueBytes = source.Value.Length,
            KeySha256 = source.Key is null ? null : Convert.ToHexStringLower(SHA256.HashData(key)),
            ValueSha256 = Convert.ToHexStringLower(SHA256.HashData(source.Value)),
            KeyTruncated = truncated,
        };
        var headers = DeadLetterHeaders.For(reason, source);
        headers.Add(DeadLetterHeaders.Envelope, Encoding.UTF8.GetBytes(DeadLetterEnvelope.SchemaV1));
        return new Message<string?, byte[]> { Key = truncated, Value = JsonSerializer.SerializeToUtf8Bytes(envelope), Headers = headers };
    }
}

/// <summary>
/// Value of a dead-letter record that stands for a message too large to dead-letter whole (header
/// <c>dlq.envelope</c> = <see cref="SchemaV1"/>): the reason, where the message was, its sizes and SHA-256 hashes
/// (to find it again or match it against the producer's logs) and its key cut to <see cref="DeadLetters.MaxEnvelopeKeyChars"/> characters.
/// </summary>
public sealed record DeadLetterEnvelope
{
    public const string SchemaV1 = "dead-letter-envelope.v1";

    [JsonPropertyName("schema")]
    public string Schema { get; init; } = SchemaV1;

    [JsonPropertyName("reason")]
    public required string Reason { get; init; }

    /// <summary>Why the whole message could not be dead-lettered (e.g. <c>Message size too large</c>).</summary>
    [JsonPropertyName("produceError")]
    public required string ProduceError { get; init; }

    [JsonPropertyName("sourceTopic")]
    public required string SourceTopic { get; init; }

    [JsonPropertyName("sourcePartition")]
    public required int SourcePartition { get; init; }

    [JsonPropertyName("sourceOffset")]
    public required long SourceOffset { get; init; }

    /// <summary>UTF-8 length of the key; null for a keyless message.</summary>
    [JsonPropertyName("keyBytes")]
    public int? KeyBytes { get; init; }

    [JsonPropertyName("valueBytes")]
    public required int ValueBytes { get; init; }

    [JsonPropertyName("keySha256")]
    public string? KeySha256 { get; init; }

    [JsonPropertyName("valueSha256")]
    public required string ValueSha256 { get; init; }

    [JsonPropertyName("keyTruncated")]
    public string? KeyTruncated { get; init; }
}

/// <summary>
/// The three kinds of produce failure. A record the broker or the producer refuses for its content (too large,
/// invalid) will fail the same way on every retry. A broker that cannot take writes now (unreachable, no leader,
/// not enough replicas, delivery timed out) is an outage: the batch is retried after a pause. Anything else
/// (a missing topic, an authorisation error) is a configuration error that stops the service.
/// </summary>
public static class ProduceFailures
{
    public static bool IsCausedByContent(Error error)
    {
        ArgumentNullException.ThrowIfNull(error);
        // librdkafka reports a message over message.max.bytes with the broker's code, MsgSizeTooLarge, before sending.
        return error.Code is ErrorCode.MsgSizeTooLarge or ErrorCode.InvalidMsgSize or ErrorCode.RecordListTooLarge
            or ErrorCode.InvalidRecord or ErrorCode.InvalidMsg or ErrorCode.Local_BadMsg;
    }

    public static bool IsTransient(Error error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error.Code is ErrorCode.Local_MsgTimedOut or ErrorCode.Local_TimedOut or ErrorCode.Local_TimedOutQueue
            or ErrorCode.Local_Transport or ErrorCode.Local_AllBrokersDown or ErrorCode.Local_QueueFull or ErrorCode.Local_Retry
            or ErrorCode.RequestTimedOut or ErrorCode.NetworkException or ErrorCode.BrokerNotAvailable
            or ErrorCode.LeaderNotAvailable or ErrorCode.NotLeaderForPartition or ErrorCode.NotEnoughReplicas
            or ErrorCode.NotEnoughReplicasAfterAppend or ErrorCode.KafkaStorageError or ErrorCode.NotCoordinatorForGroup;
    }
}

/// <summary>
/// A write that cannot be made now (Redis or Kafka unavailable, full or read-only): the batch is retried after a
/// pause, its offsets stay where they are, so nothing is lost. Thrown by the outbox and the session writes; handled
/// by <see cref="BatchConsumeLoop"/>.
/// </summary>
public sealed class WriteUnavailableException : Exception
{
    public WriteUnavailableException()
    {
    }

    public WriteUnavailableException(string message) : base(message)
    {
    }

    public WriteUnavailableException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>What the pause is about, for health and logs (<c>kafka</c> or <c>redis</c>).</summary>
    public string Store { get; init; } = "kafka";
}

/// <summary>Names of the headers a dead-lettered message carries next to its unchanged key and value.</summary>
public static class DeadLetterHeaders
{
    public const string Reason = "dlq.reason";
    public const string SourceTopic = "dlq.source.topic";
    public const string SourcePartition = "dlq.source.partition";
    public const string SourceOffset = "dlq.source.offset";

    /// <summary>Present (value <see cref="DeadLetterEnvelope.SchemaV1"/>) when the value is an envelope instead of the message.</summary>
    public const string Envelope = "dlq.envelope";

    /// <summary>The headers of <paramref name="source"/> dead-lettered for <paramref name="reason"/> (cut to <see cref="DeadLetters.MaxReasonChars"/>).</summary>
    public static Headers For(string reason, IncomingMessage source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new()
        {
            { Reason, Encoding.UTF8.GetBytes(DeadLetters.Bounded(reason)) },
            { SourceTopic, Encoding.UTF8.GetBytes(source.Topic) },
            { SourcePartition, Encoding.UTF8.GetBytes(source.Partition.ToString(CultureInfo.InvariantCulture)) },
            { SourceOffset, Encoding.UTF8.GetBytes(source.Offset.ToString(CultureInfo.InvariantCulture)) },
        };
    }
}

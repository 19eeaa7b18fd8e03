using System.ComponentModel.DataAnnotations;
using Confluent.Kafka;

namespace Streaming.Shared.Messaging;

/// <summary>
/// Configuration section <c>Kafka</c>: the broker, its security and the topic names (env: <c>Kafka__BootstrapServers</c>,
/// <c>Kafka__SecurityProtocol</c>, ...). Secrets (<see cref="SaslPassword"/>) come from the environment, i.e. a
/// Kubernetes Secret, never from a file in the image.
/// </summary>
public sealed class KafkaOptions : IValidatableObject
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

    /// <summary><c>plaintext</c> (the default, for local runs), <c>ssl</c>, <c>sasl_plaintext</c> or <c>sasl_ssl</c> (production: SCRAM over TLS).</summary>
    public string SecurityProtocol { get; set; } = "plaintext";

    /// <summary><c>SCRAM-SHA-512</c> (default; what Strimzi's <c>KafkaUser</c> with <c>scram-sha-512</c> creates), <c>SCRAM-SHA-256</c> or <c>PLAIN</c>.</summary>
    public string SaslMechanism { get; set; } = "SCRAM-SHA-512";

    /// <summary>The SASL user (the service's <c>KafkaUser</c>); required with a <c>sasl_*</c> protocol.</summary>
    public string SaslUsername { get; set; } = "";

    /// <summary>The SASL password; required with a <c>sasl_*</c> protocol. From a Secret.</summary>
    public string SaslPassword { get; set; } = "";

    /// <summary>PEM file of the CA that signed the brokers' certificates (TLS protocols); empty: the system's CAs.</summary>
    public string SslCaLocation { get; set; } = "";

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
        ApplySecurity(config);
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
        ApplySecurity(config);
        config.BootstrapServers = BootstrapServers;
        config.Acks = Acks.All;
        config.EnableIdempotence = true;
        return config;
    }

    /// <summary>An admin client's configuration (security included), for tools that read metadata.</summary>
    public AdminClientConfig AdminConfig()
    {
        var config = new AdminClientConfig();
        Overlay(config, Settings);
        ApplySecurity(config);
        config.BootstrapServers = BootstrapServers;
        return config;
    }

    /// <summary>Start-up validation: each message names the key to fix.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Protocols.TryGetValue(SecurityProtocol, out var protocol))
        {
            yield return new ValidationResult($"{Section}:{nameof(SecurityProtocol)} '{SecurityProtocol}' is not one of {string.Join(", ", Protocols.Keys)}", [nameof(SecurityProtocol)]);
            yield break;
        }

        if (protocol is Confluent.Kafka.SecurityProtocol.SaslPlaintext or Confluent.Kafka.SecurityProtocol.SaslSsl)
        {
            if (!Mechanisms.ContainsKey(SaslMechanism))
            {
                yield return new ValidationResult($"{Section}:{nameof(SaslMechanism)} '{SaslMechanism}' is not one of {string.Join(", ", Mechanisms.Keys)}", [nameof(SaslMechanism)]);
            }

            if (string.IsNullOrWhiteSpace(SaslUsername))
            {
                yield return new ValidationResult($"{Section}:{nameof(SaslUsername)} is required with {Section}:{nameof(SecurityProtocol)} {SecurityProtocol}", [nameof(SaslUsername)]);
            }

            if (string.IsNullOrEmpty(SaslPassword))
            {
                yield return new ValidationResult($"{Section}:{nameof(SaslPassword)} is required with {Section}:{nameof(SecurityProtocol)} {SecurityProtocol}", [nameof(SaslPassword)]);
            }
        }
        else if (SaslUsername.Length > 0 || SaslPassword.Length > 0)
        {
            yield return new ValidationResult($"{Section}:{nameof(SaslUsername)}/{nameof(SaslPassword)} need {Section}:{nameof(SecurityProtocol)} sasl_ssl (or sasl_plaintext)", [nameof(SecurityProtocol)]);
        }
    }

    private static readonly Dictionary<string, SecurityProtocol> Protocols = new(StringComparer.OrdinalIgnoreCase)
    {
        ["plaintext"] = Confluent.Kafka.SecurityProtocol.Plaintext,
        ["ssl"] = Confluent.Kafka.SecurityProtocol.Ssl,
        ["sasl_plaintext"] = Confluent.Kafka.SecurityProtocol.SaslPlaintext,
        ["sasl_ssl"] = Confluent.Kafka.SecurityProtocol.SaslSsl,
    };

    private static readonly Dictionary<string, SaslMechanism> Mechanisms = new(StringComparer.OrdinalIgnoreCase)
    {
        ["SCRAM-SHA-512"] = Confluent.Kafka.SaslMechanism.ScramSha512,
        ["SCRAM-SHA-256"] = Confluent.Kafka.SaslMechanism.ScramSha256,
        ["PLAIN"] = Confluent.Kafka.SaslMechanism.Plain,
    };

    // The typed settings win over Settings: the secret comes from its own key, so it is never in a ConfigMap.
    private void ApplySecurity(ClientConfig config)
    {
        if (!Protocols.TryGetValue(SecurityProtocol, out var protocol) || (protocol == Confluent.Kafka.SecurityProtocol.Plaintext && config.SecurityProtocol is not null))
        {
            return;   // invalid (validation says so) or plaintext by default while Settings chose something else
        }

        config.SecurityProtocol = protocol;
        if (protocol is Confluent.Kafka.SecurityProtocol.SaslPlaintext or Confluent.Kafka.SecurityProtocol.SaslSsl && Mechanisms.TryGetValue(SaslMechanism, out var mechanism))
        {
            config.SaslMechanism = mechanism;
            config.SaslUsername = SaslUsername;
            config.SaslPassword = SaslPassword;
        }

        if (SslCaLocation.Length > 0)
        {
            config.SslCaLocation = SslCaLocation;
        }
    }

    private static void Overlay(ClientConfig config, Dictionary<string, string> settings)
    {
        foreach (var (key, value) in settings)
        {
            config.Set(key, value);
        }
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

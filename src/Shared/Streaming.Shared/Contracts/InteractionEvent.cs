using System.Text.Json.Serialization;

namespace Streaming.Shared.Contracts;

/// <summary>
/// Topic <c>interactions</c>, key = user id, value = this record as JSON (schema <c>interaction.v1</c>).
/// One user's interaction with one catalogue item: an explicit rating (1..5) or an implicit signal.
/// </summary>
/// <remarks>
/// <see cref="EventId"/> is the idempotency key: a producer that retries must resend the same id, and the
/// session store applies each id once. <see cref="Profile"/> is optional and normally sent with a user's
/// first events only; the latest non-empty value of each field wins.
/// </remarks>
public sealed record InteractionEvent
{
    /// <summary>The schema this record follows.</summary>
    public const string SchemaV1 = "interaction.v1";

    [JsonPropertyName("schema")]
    public string Schema { get; init; } = SchemaV1;

    /// <summary>Unique per event (a UUID is fine); at most 128 characters.</summary>
    [JsonPropertyName("eventId")]
    public required string EventId { get; init; }

    /// <summary>The user; also the Kafka key, so one user's events stay in order on one partition.</summary>
    [JsonPropertyName("userId")]
    public required string UserId { get; init; }

    /// <summary>A catalogue item id.</summary>
    [JsonPropertyName("itemId")]
    public required int ItemId { get; init; }

    /// <summary>An explicit rating 1..5; null for an implicit signal.</summary>
    [JsonPropertyName("rating")]
    public float? Rating { get; init; }

    /// <summary>An implicit signal ("view", "click", "like", ...) when there is no rating.</summary>
    [JsonPropertyName("signal")]
    public string? Signal { get; init; }

    /// <summary>When the interaction happened (producer's clock, ISO 8601 with offset).</summary>
    [JsonPropertyName("eventTime")]
    public required DateTimeOffset EventTime { get; init; }

    /// <summary>Optional profile fields, for a user's first events.</summary>
    [JsonPropertyName("profile")]
    public ProfileFields? Profile { get; init; }
}

/// <summary>The profile fields an event may carry (MovieLens coding; all optional).</summary>
public sealed record ProfileFields
{
    [JsonPropertyName("gender")]
    public string? Gender { get; init; }

    [JsonPropertyName("age")]
    public string? Age { get; init; }

    [JsonPropertyName("occupation")]
    public string? Occupation { get; init; }

    [JsonPropertyName("zip")]
    public string? Zip { get; init; }
}

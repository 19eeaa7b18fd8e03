using System.Text.Json.Serialization;

namespace Streaming.Shared.Contracts;

/// <summary>
/// Topic <c>adapt-requests</c>, key = user id, value = this record as JSON (schema <c>adapt-request.v1</c>):
/// Ingest asks the Adapter to (re-)adapt a user who crossed the few-shot threshold or K more interactions,
/// or to onboard a user whose first event just arrived.
/// </summary>
public sealed record AdaptRequest
{
    public const string SchemaV1 = "adapt-request.v1";

    [JsonPropertyName("schema")]
    public string Schema { get; init; } = SchemaV1;

    [JsonPropertyName("userId")]
    public required string UserId { get; init; }

    /// <summary>The user's interaction count when the request was made.</summary>
    [JsonPropertyName("interactions")]
    public required long Interactions { get; init; }

    /// <summary>The event that made the user due.</summary>
    [JsonPropertyName("triggerEventId")]
    public required string TriggerEventId { get; init; }

    [JsonPropertyName("triggerEventTime")]
    public required DateTimeOffset TriggerEventTime { get; init; }

    /// <summary>
    /// What is asked for: <c>adapted</c> (adapt on the session, the default) or <c>onboarding</c> (a user below
    /// the threshold: evidence candidates and popular items). Same values as <see cref="RecommendationMessage.Basis"/>.
    /// </summary>
    [JsonPropertyName("basis")]
    public string Basis { get; init; } = RecommendationMessage.Adapted;
}

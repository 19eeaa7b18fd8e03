using System.Text.Json.Serialization;

namespace Streaming.Shared.Contracts;

/// <summary>
/// Topic <c>recommendations</c>, key = user id, value = this record as JSON (schema <c>recommendation.v1</c>).
/// </summary>
public sealed record RecommendationMessage
{
    /// <summary>The schema this record follows.</summary>
    public const string SchemaV1 = "recommendation.v1";

    /// <summary><see cref="Basis"/> of recommendations from a user's adapted fast weights.</summary>
    public const string Adapted = "adapted";

    /// <summary><see cref="Basis"/> of recommendations for users below the few-shot threshold.</summary>
    public const string Onboarding = "onboarding";

    [JsonPropertyName("schema")]
    public string Schema { get; init; } = SchemaV1;

    [JsonPropertyName("userId")]
    public required string UserId { get; init; }

    /// <summary>Ranked items, best first.</summary>
    [JsonPropertyName("items")]
    public required IReadOnlyList<RecommendedItem> Items { get; init; }

    /// <summary>The meta-model version that produced them.</summary>
    [JsonPropertyName("modelVersion")]
    public required string ModelVersion { get; init; }

    /// <summary><see cref="Adapted"/> or <see cref="Onboarding"/>.</summary>
    [JsonPropertyName("basis")]
    public required string Basis { get; init; }

    /// <summary>How many interactions the user's fast weights were adapted on (0 for onboarding).</summary>
    [JsonPropertyName("interactions")]
    public required int Interactions { get; init; }

    /// <summary>Event time of the interaction that triggered this recommendation.</summary>
    [JsonPropertyName("triggerEventTime")]
    public required DateTimeOffset TriggerEventTime { get; init; }

    /// <summary>When the recommendation was made.</summary>
    [JsonPropertyName("producedAt")]
    public required DateTimeOffset ProducedAt { get; init; }

    /// <summary>
    /// The canary version routed when the list was made (for users of the active version and of the canary
    /// alike), or null when none was: online evaluation compares canary and active on the lists served in the
    /// same window. Optional (added to v1 without a schema change: readers that do not know it ignore it).
    /// </summary>
    [JsonPropertyName("canaryVersion")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? CanaryVersion { get; init; }
}

/// <summary>
/// One recommended item: its score (what the list is ranked by) and, from models with a rating head, its predicted
/// rating (online evaluation measures that against the user's actual rating): a whole star from a model with a rating
/// decoder (<see cref="Models.RatingDecoder"/>), the expected rating from an older one. The prediction is optional (added
/// to v1 without a schema change; absent from onboarding lists, which predict no rating).
/// </summary>
public sealed record RecommendedItem(
    [property: JsonPropertyName("itemId")] int ItemId,
    [property: JsonPropertyName("score")] float Score,
    [property: JsonPropertyName("predictedRating")]
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    float? PredictedRating = null);

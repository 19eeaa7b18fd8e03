using System.Text.Json;

namespace Streaming.Shared.Contracts;

/// <summary>An interaction that passed validation, in the form the session store keeps.</summary>
/// <param name="EventId">The idempotency key.</param>
/// <param name="UserId">The user (also the Kafka key).</param>
/// <param name="ItemId">A catalogue item.</param>
/// <param name="Rating">The rating, or the rating an implicit signal stands for.</param>
/// <param name="EventTime">When it happened.</param>
/// <param name="Profile">Profile fields the event carried, if any.</param>
/// <param name="Explicit">The rating was given (false: it stands for an implicit signal, so no prediction error is measured on it).</param>
public sealed record Interaction(string EventId, string UserId, int ItemId, float Rating, DateTimeOffset EventTime, ProfileFields? Profile, bool Explicit = true);

/// <summary>The outcome of validating one message: an interaction, or the reason it goes to the dead-letter topic.</summary>
public readonly record struct ValidationResult(Interaction? Interaction, string? Reason)
{
    public bool IsValid => Interaction is not null;

    public static ValidationResult Valid(Interaction interaction) => new(interaction, null);

    public static ValidationResult Invalid(string reason) => new(null, reason);
}

/// <summary>Settings of <see cref="InteractionValidator"/>.</summary>
public sealed record ValidationRules
{
    /// <summary>Larger payloads are rejected unread.</summary>
    public int MaxPayloadBytes { get; init; } = 4096;

    /// <summary>Longest accepted event id and user id.</summary>
    public int MaxIdLength { get; init; } = 128;

    /// <summary>The rating each implicit signal stands for (the model learns from ratings).</summary>
    public IReadOnlyDictionary<string, float> ImplicitSignalRatings { get; init; } =
        new Dictionary<string, float>(StringComparer.Ordinal) { ["view"] = 3.5f, ["click"] = 4f, ["like"] = 5f, ["dislike"] = 1f };
}

/// <summary>
/// Checks a raw <c>interactions</c> message against contract v1 and the catalogue. Never throws for bad input:
/// every problem becomes a reason for the dead-letter topic. Thread-safe.
/// </summary>
public sealed class InteractionValidator(ValidationRules rules, Func<int, bool> isKnownItem)
{
    private static readonly JsonSerializerOptions Json = new() { AllowTrailingCommas = false };

    /// <summary>Validates one message (Kafka key and value).</summary>
    public ValidationResult Validate(string? key, ReadOnlySpan<byte> value)
    {
        ArgumentNullException.ThrowIfNull(rules);
        if (value.Length == 0)
        {
            return ValidationResult.Invalid("empty payload");
        }

        if (value.Length > rules.MaxPayloadBytes)
        {
            return ValidationResult.Invalid($"payload of {value.Length} bytes exceeds {rules.MaxPayloadBytes}");
        }

        InteractionEvent? e;
        try
        {
            e = JsonSerializer.Deserialize<InteractionEvent>(value, Json);
        }
        catch (JsonException ex)
        {
            // "missing required properties" and type errors land here too, with the path that failed.
            return ValidationResult.Invalid($"malformed JSON: {ex.Message}");
        }

        if (e is null)
        {
            return ValidationResult.Invalid("malformed JSON: null");
        }

        if (e.Schema != InteractionEvent.SchemaV1)
        {
            return ValidationResult.Invalid($"unsupported schema '{e.Schema}' (expected '{InteractionEvent.SchemaV1}')");
        }

        if (string.IsNullOrWhiteSpace(e.EventId) || e.EventId.Length > rules.MaxIdLength)
        {
            return ValidationResult.Invalid($"eventId must be 1..{rules.MaxIdLength} characters");
        }

        if (UserIds.Problem(e.UserId, rules.MaxIdLength) is { } userIdProblem)
        {
            return ValidationResult.Invalid(userIdProblem);
        }

        if (key is not null && key != e.UserId)
        {
            return ValidationResult.Invalid($"message key '{Quote(key)}' is not the event's userId '{e.UserId}'");
        }

        if (!isKnownItem(e.ItemId))
        {
            return ValidationResult.Invalid($"unknown item {e.ItemId}");
        }

        float rating;
        if (e.Rating is float r)
        {
            if (!float.IsFinite(r) || r < Data.Rating.MinValue || r > Data.Rating.MaxValue)
            {
                return ValidationResult.Invalid($"rating {r} is outside {Data.Rating.MinValue:0}..{Data.Rating.MaxValue:0}");
            }

            rating = r;
        }
        else if (e.Signal is { } signal && rules.ImplicitSignalRatings.TryGetValue(signal, out float implied))
        {
            rating = implied;
        }
        else
        {
            return ValidationResult.Invalid(e.Signal is null
                ? "neither rating nor signal is set"
                : $"unknown signal '{e.Signal}' (known: {string.Join(", ", rules.ImplicitSignalRatings.Keys)})");
        }

        if (e.EventTime == default)
        {
            return ValidationResult.Invalid("eventTime is missing");
        }

        return ValidationResult.Valid(new Interaction(e.EventId, e.UserId, e.ItemId, rating, e.EventTime, e.Profile, Explicit: e.Rating is not null));
    }

    // A key can be any size (the payload limit does not cover it): a reason quotes at most its start.
    private static string Quote(string key) => key.Length <= 200 ? key : $"{key[..200]}... ({key.Length} characters)";
}

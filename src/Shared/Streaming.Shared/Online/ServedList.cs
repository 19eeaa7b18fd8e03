using Streaming.Shared.Contracts;

namespace Streaming.Shared.Online;

/// <summary>A recommendation list as served to a user, the record online evaluation attributes later interactions to.</summary>
/// <param name="UserId">The user.</param>
/// <param name="Version">The model version that made the list.</param>
/// <param name="Window">The canary version routed when it was made (<see cref="RecommendationMessage.CanaryVersion"/>), or null.</param>
/// <param name="ProducedAt">When it was made: only interactions at or after this time are attributed to it.</param>
/// <param name="Items">The list, best first, with the predicted ratings.</param>
public sealed record ServedList(string UserId, string Version, string? Window, DateTimeOffset ProducedAt, IReadOnlyList<RecommendedItem> Items)
{
    /// <summary>The served list a recommendation message describes.</summary>
    public static ServedList From(RecommendationMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return new ServedList(message.UserId, message.ModelVersion, message.CanaryVersion, message.ProducedAt, message.Items);
    }

    /// <summary>
    /// The arm an outcome of this list counts for: the version, and the canary window it was served in
    /// (<c>v3@v4</c>: v3's lists while v4 was the canary), so that canary and active compare on the same lists' time.
    /// </summary>
    public string Arm => OnlineLayout.Arm(Version, Window);
}

using System.ComponentModel.DataAnnotations;

namespace Streaming.Shared.Sessions;

/// <summary>Configuration section <c>Sessions</c>: how user sessions are kept and when a user is adapted.</summary>
public sealed class SessionStoreOptions
{
    public const string Section = "Sessions";

    /// <summary>Most recent interactions kept per user (older ones are dropped).</summary>
    [Range(1, 10_000)]
    public int MaxHistory { get; set; } = 100;

    /// <summary>
    /// A session expires this long after its last interaction, less at most a 64th of it: the TTL is set again only
    /// when the last setting is a 64th of it old (<see cref="SessionLayout.TtlRefreshSeconds"/>), which saves an
    /// <c>EXPIRE</c> per event.
    /// </summary>
    [Range(60, 90 * 24 * 3600)]
    public int TtlSeconds { get; set; } = 7 * 24 * 3600;

    /// <summary>A user is first adapted at this many interactions (the few-shot threshold).</summary>
    [Range(1, 1000)]
    public int AdaptThreshold { get; set; } = 5;

    /// <summary>After the first adaptation, a user is adapted again every this many new interactions.</summary>
    [Range(1, 1000)]
    public int AdaptEvery { get; set; } = 5;

    /// <summary>
    /// A user's first event asks for onboarding recommendations (evidence candidates, then popular items), so a
    /// brand-new user gets something before the threshold is reached.
    /// </summary>
    public bool Onboarding { get; set; } = true;

    /// <summary>
    /// Attribute each applied interaction to the user's last served list (online evaluation per model version),
    /// in the same atomic session update. Off saves the per-user record's reads.
    /// </summary>
    public bool OnlineEvaluation { get; set; } = true;

    /// <summary>How many recent event ids per user are remembered to drop redelivered or duplicated events.</summary>
    [Range(16, 100_000)]
    public int DedupWindow { get; set; } = 1024;
}

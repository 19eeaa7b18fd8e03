using System.Text;

namespace Streaming.Shared.Registry;

/// <summary>
/// Which version serves whom: the active version, and optionally a canary served to a stable share of users.
/// Stored as one value with a revision; every change goes through compare-and-set on that revision
/// (<see cref="IModelRegistry.TryUpdateRoutingAsync"/>), so concurrent writers never clobber each other.
/// </summary>
public sealed record ModelRouting
{
    /// <summary>How many previous active versions are kept for rollback.</summary>
    public const int MaxHistory = 20;

    /// <summary>No version yet (revision 0).</summary>
    public static ModelRouting Empty { get; } = new();

    /// <summary>The version every user gets unless they fall in the canary; null before the first promotion.</summary>
    public string? Active { get; init; }

    /// <summary>The version being tried on <see cref="CanaryPercent"/> % of users, or null.</summary>
    public string? Canary { get; init; }

    /// <summary>Share of users (0..100) who get the canary, chosen by <see cref="CanarySplit"/>.</summary>
    public double CanaryPercent { get; init; }

    /// <summary>Incremented by every change; 0 for a registry that was never routed.</summary>
    public long Revision { get; init; }

    /// <summary>Previously active versions, newest first (at most <see cref="MaxHistory"/>); rollback pops the first.</summary>
    public IReadOnlyList<string> History { get; init; } = [];

    /// <summary>When the routing last changed (the registry's clock).</summary>
    public DateTimeOffset? UpdatedAt { get; init; }

    /// <summary>The version that serves <paramref name="userId"/>: the canary for its share of users, otherwise the active one.</summary>
    public string? VersionFor(string userId) =>
        Canary is not null && CanarySplit.IsCanary(userId, CanaryPercent, Canary) ? Canary : Active;

    /// <summary>One line for people: <c>active v3, canary v4 (10%), previous v2, v1 (revision 7)</c>.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append("active ").Append(Active ?? "(none)");
        if (Canary is not null)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $", canary {Canary} ({CanaryPercent:0.##}%)");
        }

        if (History.Count > 0)
        {
            text.Append(", previous ").Append(string.Join(", ", History.Take(3))).Append(History.Count > 3 ? ", ..." : "");
        }

        return text.Append(System.Globalization.CultureInfo.InvariantCulture, $" (revision {Revision})").ToString();
    }
}

/// <summary>
/// Splits users between the active version and the canary with a stable hash of the user id: the same user
/// gets the same answer in every process, on every machine and in every release, unlike
/// <see cref="string.GetHashCode()"/>, which .NET randomises per process.
/// </summary>
public static class CanarySplit
{
    /// <summary>Number of buckets: percentages resolve to 0.01 %.</summary>
    public const int Buckets = 10_000;

    /// <summary>
    /// True when <paramref name="userId"/> falls in the first <paramref name="percent"/> % of buckets. Raising the
    /// percentage only adds users. <paramref name="salt"/> (the canary version) picks a different set of users
    /// for each canary, so one unlucky group is not the guinea pig of every rollout.
    /// </summary>
    public static bool IsCanary(string userId, double percent, string? salt = null) =>
        Bucket(userId, salt) < Math.Clamp(percent, 0, 100) * (Buckets / 100);

    /// <summary>The user's bucket in 0..<see cref="Buckets"/>-1 (FNV-1a 64 of the UTF-8 bytes, then a 64-bit finaliser).</summary>
    public static int Bucket(string userId, string? salt = null)
    {
        ArgumentNullException.ThrowIfNull(userId);
        ulong hash = 14695981039346656037UL;
        hash = Fnv1a(hash, salt ?? "");
        hash = Fnv1a(hash, "\0");
        hash = Fnv1a(hash, userId);

        // FNV-1a's low bits mix poorly for ids that differ only in their last characters ("u-1", "u-2");
        // the MurmurHash3 finaliser spreads every input bit over the whole word before the modulo.
        hash ^= hash >> 33;
        hash *= 0xff51afd7ed558ccdUL;
        hash ^= hash >> 33;
        hash *= 0xc4ceb9fe1a85ec53UL;
        hash ^= hash >> 33;
        return (int)(hash % Buckets);
    }

    private static ulong Fnv1a(ulong hash, string text)
    {
        Span<byte> buffer = stackalloc byte[256];
        int max = Encoding.UTF8.GetMaxByteCount(text.Length);
        var bytes = max <= buffer.Length ? buffer[..Encoding.UTF8.GetBytes(text, buffer)] : Encoding.UTF8.GetBytes(text);
        foreach (byte b in bytes)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }
}

using System.Security.Cryptography;

namespace Streaming.Shared.Registry;

/// <summary>
/// Immutable model versions and the routing that says which of them serves. Implementations are thread-safe and
/// safe to share between processes: versions are allocated atomically, a version becomes visible only once its
/// blob and manifest are fully written, and routing changes are compare-and-set. Rollout operations built on
/// this are in <see cref="ModelRollout"/>.
/// </summary>
public interface IModelRegistry : IAsyncDisposable
{
    /// <summary>Names the registry in messages (<c>redis 127.0.0.1:6379 (models)</c>, a directory).</summary>
    string Description { get; }

    /// <summary>Every version, oldest first.</summary>
    Task<IReadOnlyList<RegisteredModel>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>One version, or null when the registry has no such version.</summary>
    Task<RegisteredModel?> FindAsync(string version, CancellationToken cancellationToken = default);

    /// <summary>A version's model file, checked against the SHA-256 recorded when it was pushed.</summary>
    /// <exception cref="ArgumentException">The registry has no such version.</exception>
    /// <exception cref="InvalidDataException">The stored blob is missing, truncated or altered; it names the version.</exception>
    Task<byte[]> DownloadAsync(string version, CancellationToken cancellationToken = default);

    /// <summary>
    /// Checks a model file in full (<see cref="Models.ModelFile.Inspect"/>) and stores it as a new version.
    /// Concurrent pushes get distinct versions.
    /// </summary>
    /// <exception cref="InvalidDataException">Not a loadable model file (bad format, checksum, NaN weights); nothing is stored.</exception>
    /// <exception cref="ArgumentException">The parent version does not exist.</exception>
    Task<RegisteredModel> PushAsync(byte[] modelFile, ModelPushOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>The current routing (<see cref="ModelRouting.Empty"/> before the first change).</summary>
    Task<ModelRouting> GetRoutingAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Compare-and-set: stores <paramref name="next"/> (with revision <paramref name="expectedRevision"/> + 1 and the
    /// registry's time) only if the stored revision is still <paramref name="expectedRevision"/>.
    /// </summary>
    /// <returns>The routing as stored, or null when another writer changed it first (read it again and retry).</returns>
    /// <exception cref="ArgumentException"><paramref name="next"/> names a version that does not exist or an invalid percentage.</exception>
    Task<ModelRouting?> TryUpdateRoutingAsync(long expectedRevision, ModelRouting next, CancellationToken cancellationToken = default);
}

/// <summary>Checks shared by the registry implementations.</summary>
internal static class RegistryChecks
{
    /// <summary>Throws when a routing names an unknown version or an impossible canary.</summary>
    public static async Task ValidateAsync(IModelRegistry registry, ModelRouting next, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(next);
        if (!double.IsFinite(next.CanaryPercent) || next.CanaryPercent is < 0 or > 100)
        {
            throw new ArgumentException($"canary percentage {next.CanaryPercent} is outside 0..100", nameof(next));
        }

        if (next.Canary is null && next.CanaryPercent != 0)
        {
            throw new ArgumentException("a canary percentage needs a canary version", nameof(next));
        }

        if (next.History is null || next.History.Count > ModelRouting.MaxHistory)
        {
            throw new ArgumentException($"routing history must hold at most {ModelRouting.MaxHistory} versions", nameof(next));
        }

        // History entries were active before, and versions are never deleted: their names are enough.
        if (next.History.FirstOrDefault(v => !ModelVersions.TryParse(v, out _)) is { } bad)
        {
            throw ModelVersions.Unknown(bad, registry.Description);
        }

        foreach (string? version in new[] { next.Active, next.Canary })
        {
            if (version is not null && await registry.FindAsync(version, cancellationToken).ConfigureAwait(false) is null)
            {
                throw ModelVersions.Unknown(version, registry.Description);
            }
        }
    }

    /// <summary>The blob if its SHA-256 is the registered one; otherwise an error naming the version.</summary>
    public static byte[] Verified(RegisteredModel model, byte[] blob, string registry)
    {
        string actual = Convert.ToHexStringLower(SHA256.HashData(blob));
        return string.Equals(actual, model.Sha256, StringComparison.Ordinal)
            ? blob
            : throw new InvalidDataException(
                $"model {model.Version} in {registry}: stored blob checksum mismatch (registered {model.Sha256}, stored {actual}, {blob.Length} of {model.SizeBytes} bytes): refusing a corrupt or altered model");
    }
}

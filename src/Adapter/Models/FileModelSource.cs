using System.Security.Cryptography;
using Streaming.Shared.Registry;

namespace Streaming.Adapter.Models;

/// <summary>What should be served: the active version and an optional canary for a share of users.</summary>
public sealed record ModelAssignment(string Active, string? Canary = null, double CanaryPercent = 0)
{
    public override string ToString() => Canary is null ? Active : $"{Active} with canary {Canary} for {CanaryPercent:0.##}% of users";
}

/// <summary>Where the Adapter's meta-models come from.</summary>
public interface IModelSource
{
    /// <summary>Describes the source in logs and errors.</summary>
    string Description { get; }

    /// <summary>What should be served now, or null when nothing is available.</summary>
    Task<ModelAssignment?> CurrentAsync(CancellationToken cancellationToken);

    /// <summary>The verified bytes of <paramref name="version"/>.</summary>
    /// <exception cref="InvalidDataException">The stored model is corrupt or was altered.</exception>
    Task<byte[]> DownloadAsync(string version, CancellationToken cancellationToken);

    /// <summary>Versions that served before the current assignment, newest first: what to serve when it is refused.</summary>
    Task<IReadOnlyList<string>> PreviousAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A model file on disk (a mounted volume, the demo's output). Its version is the SHA-256 of its bytes
/// (first 12 hex digits), so replacing the file (atomically, as <c>streaming train</c> writes it) is a new version.
/// </summary>
public sealed class FileModelSource(string path) : IModelSource
{
    private (DateTime Modified, long Length) stamp;
    private (string Version, byte[] Bytes)? last;

    public string Description => path;

    public async Task<ModelAssignment?> CurrentAsync(CancellationToken cancellationToken)
    {
        var file = new FileInfo(path);
        if (!file.Exists)
        {
            return last is { } known ? new ModelAssignment(known.Version) : null;
        }

        var now = (file.LastWriteTimeUtc, file.Length);
        if (last is null || now != stamp)
        {
            byte[] bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
            last = (Convert.ToHexStringLower(SHA256.HashData(bytes))[..12], bytes);
            stamp = now;
        }

        return new ModelAssignment(last.Value.Version);
    }

    public Task<byte[]> DownloadAsync(string version, CancellationToken cancellationToken) =>
        last is { } known && known.Version == version
            ? Task.FromResult(known.Bytes)
            : throw new IOException($"{path}: version {version} is no longer there");

    /// <summary>A file has no history: the previous contents are gone.</summary>
    public Task<IReadOnlyList<string>> PreviousAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<string>>([]);
}

/// <summary>
/// The model registry (<see cref="IModelRegistry"/>): its routing says what is active and which canary serves
/// which share of users; downloads are checked against the registered SHA-256, so a tampered blob is refused.
/// </summary>
public sealed class RegistryModelSource(IModelRegistry registry) : IModelSource
{
    public string Description => registry.Description;

    public async Task<ModelAssignment?> CurrentAsync(CancellationToken cancellationToken)
    {
        var routing = await registry.GetRoutingAsync(cancellationToken).ConfigureAwait(false);
        return routing.Active is { } active ? new ModelAssignment(active, routing.Canary, routing.Canary is null ? 0 : routing.CanaryPercent) : null;
    }

    public Task<byte[]> DownloadAsync(string version, CancellationToken cancellationToken) => registry.DownloadAsync(version, cancellationToken);

    /// <summary>The routing's history: the previously active versions, newest first.</summary>
    public async Task<IReadOnlyList<string>> PreviousAsync(CancellationToken cancellationToken) =>
        (await registry.GetRoutingAsync(cancellationToken).ConfigureAwait(false)).History;
}

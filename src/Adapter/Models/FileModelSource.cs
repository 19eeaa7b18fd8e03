using System.Security.Cryptography;

namespace Streaming.Adapter.Models;

/// <summary>A model to serve, as bytes of the model file, with the version it is known by.</summary>
public sealed record ModelPackage(string Version, byte[] Bytes);

/// <summary>Where the Adapter's meta-model comes from.</summary>
public interface IModelSource
{
    /// <summary>Describes the source in logs and errors.</summary>
    string Description { get; }

    /// <summary>The version that should be served now, or null when nothing is available.</summary>
    Task<string?> ActiveVersionAsync(CancellationToken cancellationToken);

    /// <summary>The bytes of <paramref name="version"/>.</summary>
    Task<ModelPackage> DownloadAsync(string version, CancellationToken cancellationToken);
}

/// <summary>
/// A model file on disk (a mounted volume, the demo's output). Its version is the SHA-256 of its bytes
/// (first 12 hex digits), so replacing the file — atomically, as <c>streaming train</c> writes it — is a new version.
/// </summary>
public sealed class FileModelSource(string path) : IModelSource
{
    private (DateTime Modified, long Length) stamp;
    private ModelPackage? last;

    public string Description => path;

    public async Task<string?> ActiveVersionAsync(CancellationToken cancellationToken)
    {
        var file = new FileInfo(path);
        if (!file.Exists)
        {
            return last?.Version;
        }

        var now = (file.LastWriteTimeUtc, file.Length);
        if (last is null || now != stamp)
        {
            byte[] bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
            last = new ModelPackage(Convert.ToHexStringLower(SHA256.HashData(bytes))[..12], bytes);
            stamp = now;
        }

        return last.Version;
    }

    public Task<ModelPackage> DownloadAsync(string version, CancellationToken cancellationToken) =>
        last is { } package && package.Version == version
            ? Task.FromResult(package)
            : throw new FileNotFoundException($"{path}: version {version} is no longer there");
}

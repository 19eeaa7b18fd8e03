using System.Diagnostics;
using Streaming.Shared.Learning;

namespace Streaming.Shared.Registry;

/// <summary>
/// The model registry in a directory, for tests, demos and single-machine use:
/// <list type="bullet">
/// <item><c>versions/v7/model.bin</c> and <c>versions/v7/manifest.json</c>: a complete version;</item>
/// <item><c>claims/v7</c>: an empty file whose exclusive creation allocated the number 7;</item>
/// <item><c>routing.json</c>: the <see cref="ModelRouting"/>; <c>routing.lock</c> serialises its writers.</item>
/// </list>
/// A version is written in a staging directory and renamed into <c>versions/</c>, and the routing is written to a
/// temporary file and renamed over <c>routing.json</c>: both renames are atomic on one file system, so readers see
/// all or nothing. Safe to share between threads and between processes on one machine (the lock is an OS file
/// lock); not on network file systems whose locks are advisory.
/// </summary>
public sealed class FileSystemModelRegistry : IModelRegistry
{
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(30);

    private readonly string root;
    private readonly TimeProvider time;

    /// <summary>A registry in <paramref name="directory"/>, created when missing.</summary>
    public FileSystemModelRegistry(string directory, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        root = Path.GetFullPath(directory);
        this.time = time ?? TimeProvider.System;
        Directory.CreateDirectory(VersionsDirectory);
        Directory.CreateDirectory(ClaimsDirectory);
        Directory.CreateDirectory(StagingDirectory);
    }

    /// <inheritdoc />
    public string Description => root;

    /// <summary>The registry's directory, for what lives next to it (<see cref="TrainingRunLog"/>).</summary>
    internal string Root => root;

    private string VersionsDirectory => Path.Combine(root, "versions");

    private string ClaimsDirectory => Path.Combine(root, "claims");

    private string StagingDirectory => Path.Combine(root, "staging");

    private string RoutingPath => Path.Combine(root, "routing.json");

    private string LockPath => Path.Combine(root, "routing.lock");

    /// <inheritdoc />
    public async Task<IReadOnlyList<RegisteredModel>> ListAsync(CancellationToken cancellationToken = default)
    {
        var numbers = Directory.EnumerateDirectories(VersionsDirectory)
            .Select(d => ModelVersions.TryParse(Path.GetFileName(d), out long n) ? n : 0)
            .Where(n => n > 0)
            .Order()
            .ToList();
        var models = new List<RegisteredModel>(numbers.Count);
        foreach (long n in numbers)
        {
            models.Add(await ReadManifestAsync(ModelVersions.Format(n), cancellationToken).ConfigureAwait(false));
        }

        return models;
    }

    /// <inheritdoc />
    public async Task<RegisteredModel?> FindAsync(string version, CancellationToken cancellationToken = default) =>
        ModelVersions.TryParse(version, out _) && Directory.Exists(VersionDirectory(version))
            ? await ReadManifestAsync(version, cancellationToken).ConfigureAwait(false)
            : null;

    /// <inheritdoc />
    public async Task<byte[]> DownloadAsync(string version, CancellationToken cancellationToken = default)
    {
        var model = await FindAsync(version, cancellationToken).ConfigureAwait(false) ?? throw ModelVersions.Unknown(version, Description);
        string path = Path.Combine(VersionDirectory(version), "model.bin");
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"model {version} in {Description}: {path} is missing");
        }

        return RegistryChecks.Verified(model, await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false), Description);
    }

    /// <inheritdoc />
    public async Task<RegisteredModel> PushAsync(byte[] modelFile, ModelPushOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(modelFile);
        options ??= new ModelPushOptions();
        var manifest = ModelInspection.Inspect(modelFile, options.Source ?? "pushed model");
        if (options.ParentVersion is { } parent && await FindAsync(parent, cancellationToken).ConfigureAwait(false) is null)
        {
            throw ModelVersions.Unknown(parent, Description);
        }

        string version = ClaimNextVersion();
        var model = RegisteredModel.Describe(version, modelFile, manifest, options, time.GetUtcNow());
        string staging = Path.Combine(StagingDirectory, $"{version}.{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            await WriteDurablyAsync(Path.Combine(staging, "model.bin"), modelFile, cancellationToken).ConfigureAwait(false);
            await WriteDurablyAsync(Path.Combine(staging, "manifest.json"), RegistryJson.Serialize(model), cancellationToken).ConfigureAwait(false);
            Directory.Move(staging, VersionDirectory(version));
        }
        catch
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }

            throw;
        }

        return model;
    }

    /// <inheritdoc />
    public async Task<ModelRouting> GetRoutingAsync(CancellationToken cancellationToken = default) =>
        File.Exists(RoutingPath)
            ? RegistryJson.Deserialize<ModelRouting>(await File.ReadAllBytesAsync(RoutingPath, cancellationToken).ConfigureAwait(false), RoutingPath)
            : ModelRouting.Empty;

    /// <inheritdoc />
    public async Task<ModelRouting?> TryUpdateRoutingAsync(long expectedRevision, ModelRouting next, CancellationToken cancellationToken = default)
    {
        await RegistryChecks.ValidateAsync(this, next, cancellationToken).ConfigureAwait(false);
        await using var held = await LockRoutingAsync(cancellationToken).ConfigureAwait(false);
        var current = await GetRoutingAsync(cancellationToken).ConfigureAwait(false);
        if (current.Revision != expectedRevision)
        {
            return null;
        }

        var stored = next with { Revision = expectedRevision + 1, UpdatedAt = time.GetUtcNow() };
        string temp = Path.Combine(StagingDirectory, $"routing.{Guid.NewGuid():N}.json");
        await WriteDurablyAsync(temp, RegistryJson.Serialize(stored), cancellationToken).ConfigureAwait(false);
        File.Move(temp, RoutingPath, overwrite: true);
        return stored;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private string VersionDirectory(string version) => Path.Combine(VersionsDirectory, version);

    private async Task<RegisteredModel> ReadManifestAsync(string version, CancellationToken cancellationToken)
    {
        string path = Path.Combine(VersionDirectory(version), "manifest.json");
        return RegistryJson.Deserialize<RegisteredModel>(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false), path);
    }

    // Lock-free allocation: creating claims/vN with CreateNew succeeds for exactly one writer, across processes.
    private string ClaimNextVersion()
    {
        long number = Directory.EnumerateFiles(ClaimsDirectory)
            .Select(f => ModelVersions.TryParse(Path.GetFileName(f), out long n) ? n : 0)
            .DefaultIfEmpty(0)
            .Max() + 1;
        while (true)
        {
            string version = ModelVersions.Format(number);
            string claim = Path.Combine(ClaimsDirectory, version);
            try
            {
                using (new FileStream(claim, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                {
                }

                return version;
            }
            catch (IOException) when (File.Exists(claim))
            {
                number++;
            }
        }
    }

    // FileShare.None takes an exclusive OS lock on the file (flock on Unix), held until the stream is disposed.
    private async Task<FileStream> LockRoutingAsync(CancellationToken cancellationToken)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (waited.Elapsed < LockTimeout)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(1, 10)), cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw new IOException($"{LockPath} has been held for more than {LockTimeout.TotalSeconds:F0} s by another writer", e);
            }
        }
    }

    private static async Task WriteDurablyAsync(string path, byte[] bytes, CancellationToken cancellationToken)
    {
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous);
        await using (file.ConfigureAwait(false))
        {
            await file.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
        }
    }
}

using StackExchange.Redis;
using Streaming.Shared.Learning;

namespace Streaming.Shared.Registry;

/// <summary>
/// The model registry in Redis. Keys, with <c>models</c> as the default prefix:
/// <list type="bullet">
/// <item><c>models:seq</c>: the version counter (INCR allocates the next number atomically);</item>
/// <item><c>models:blob:v7</c>: the model file, exactly as pushed;</item>
/// <item><c>models:manifest:v7</c>: the <see cref="RegisteredModel"/> as JSON;</item>
/// <item><c>models:versions</c>: a sorted set of the complete versions, scored by number;</item>
/// <item><c>models:routing</c>: the <see cref="ModelRouting"/> as JSON, its revision inside.</item>
/// </list>
/// A push writes the blob, then the manifest, and only then adds the version to the index, so no reader ever sees
/// a half-written version. Routing changes are one Lua script that compares the stored revision before it writes.
/// Thread-safe; any number of processes may share one prefix.
/// </summary>
public sealed class RedisModelRegistry : IModelRegistry
{
    // KEYS[1] routing; ARGV[1] expected revision, ARGV[2] the new routing JSON. Returns 1 when written.
    private const string CompareAndSetScript = """
        local current = redis.call('GET', KEYS[1])
        local revision = 0
        if current then revision = tonumber(cjson.decode(current)['revision']) or 0 end
        if revision ~= tonumber(ARGV[1]) then return 0 end
        redis.call('SET', KEYS[1], ARGV[2])
        return 1
        """;

    private readonly IConnectionMultiplexer redis;
    private readonly bool ownsConnection;
    private readonly string prefix;
    private readonly TimeProvider time;

    /// <summary>A registry under <paramref name="prefix"/> on an existing connection, which the caller keeps owning.</summary>
    public RedisModelRegistry(IConnectionMultiplexer redis, string prefix = "models", TimeProvider? time = null)
        : this(redis, prefix, time, ownsConnection: false)
    {
    }

    internal RedisModelRegistry(IConnectionMultiplexer redis, string prefix, TimeProvider? time, bool ownsConnection)
    {
        ArgumentNullException.ThrowIfNull(redis);
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        this.redis = redis;
        this.prefix = prefix;
        this.time = time ?? TimeProvider.System;
        this.ownsConnection = ownsConnection;
        Description = $"redis {string.Join(",", redis.GetEndPoints().Select(EndPointCollection.ToString))} ({prefix})";
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>The connection and key prefix, for what lives next to the registry (<see cref="TrainingRunLog"/>).</summary>
    internal (IConnectionMultiplexer Redis, string Prefix) Location => (redis, prefix);

    private RedisKey SequenceKey => $"{prefix}:seq";

    private RedisKey VersionsKey => $"{prefix}:versions";

    private RedisKey RoutingKey => $"{prefix}:routing";

    /// <inheritdoc />
    public async Task<IReadOnlyList<RegisteredModel>> ListAsync(CancellationToken cancellationToken = default)
    {
        var db = redis.GetDatabase();
        var versions = await db.SortedSetRangeByRankAsync(VersionsKey).ConfigureAwait(false);
        var manifests = versions.Select(v => db.StringGetAsync(ManifestKey(v!))).ToArray();
        var models = new List<RegisteredModel>(versions.Length);
        for (int i = 0; i < versions.Length; i++)
        {
            var json = await manifests[i].ConfigureAwait(false);
            if (json.HasValue)
            {
                models.Add(RegistryJson.Deserialize<RegisteredModel>((byte[])json!, $"{Description} {versions[i]}"));
            }
        }

        return models;
    }

    /// <inheritdoc />
    public async Task<RegisteredModel?> FindAsync(string version, CancellationToken cancellationToken = default)
    {
        if (!ModelVersions.TryParse(version, out _))
        {
            return null;
        }

        var db = redis.GetDatabase();
        var indexed = db.SortedSetScoreAsync(VersionsKey, version);
        var json = await db.StringGetAsync(ManifestKey(version)).ConfigureAwait(false);
        return await indexed.ConfigureAwait(false) is null || !json.HasValue
            ? null
            : RegistryJson.Deserialize<RegisteredModel>((byte[])json!, $"{Description} {version}");
    }

    /// <inheritdoc />
    public async Task<byte[]> DownloadAsync(string version, CancellationToken cancellationToken = default)
    {
        var model = await FindAsync(version, cancellationToken).ConfigureAwait(false) ?? throw ModelVersions.Unknown(version, Description);
        var blob = await redis.GetDatabase().StringGetAsync(BlobKey(version)).ConfigureAwait(false);
        if (!blob.HasValue)
        {
            throw new InvalidDataException($"model {version} in {Description}: the blob is missing");
        }

        return RegistryChecks.Verified(model, (byte[])blob!, Description);
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

        var db = redis.GetDatabase();
        long number = await db.StringIncrementAsync(SequenceKey).ConfigureAwait(false);
        string version = ModelVersions.Format(number);
        var model = RegisteredModel.Describe(version, modelFile, manifest, options, time.GetUtcNow());

        // Versions are immutable: NX refuses to overwrite, which only a reset counter could ask for.
        if (!await db.StringSetAsync(BlobKey(version), modelFile, when: When.NotExists).ConfigureAwait(false)
            || !await db.StringSetAsync(ManifestKey(version), RegistryJson.Serialize(model), when: When.NotExists).ConfigureAwait(false))
        {
            throw new InvalidOperationException($"{Description}: version {version} already has data although the counter just allocated it; was {SequenceKey} reset?");
        }

        await db.SortedSetAddAsync(VersionsKey, version, number).ConfigureAwait(false);
        return model;
    }

    /// <inheritdoc />
    public async Task<ModelRouting> GetRoutingAsync(CancellationToken cancellationToken = default)
    {
        var json = await redis.GetDatabase().StringGetAsync(RoutingKey).ConfigureAwait(false);
        return json.HasValue ? RegistryJson.Deserialize<ModelRouting>((byte[])json!, $"{Description} routing") : ModelRouting.Empty;
    }

    /// <inheritdoc />
    public async Task<ModelRouting?> TryUpdateRoutingAsync(long expectedRevision, ModelRouting next, CancellationToken cancellationToken = default)
    {
        await RegistryChecks.ValidateAsync(this, next, cancellationToken).ConfigureAwait(false);
        var stored = next with { Revision = expectedRevision + 1, UpdatedAt = time.GetUtcNow() };
        var written = await redis.GetDatabase().ScriptEvaluateAsync(CompareAndSetScript, [RoutingKey], [expectedRevision, RegistryJson.Serialize(stored)]).ConfigureAwait(false);
        return (long)written == 1 ? stored : null;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (ownsConnection)
        {
            await redis.DisposeAsync().ConfigureAwait(false);
        }
    }

    private RedisKey BlobKey(string version) => $"{prefix}:blob:{version}";

    private RedisKey ManifestKey(string version) => $"{prefix}:manifest:{version}";
}

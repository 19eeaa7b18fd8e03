using StackExchange.Redis;

namespace Streaming.Shared.Registry;

/// <summary>Where a registry lives, parsed from one string (the CLI's <c>--registry</c>).</summary>
/// <param name="Redis">The Redis configuration, or null for a directory.</param>
/// <param name="Prefix">The Redis key prefix.</param>
/// <param name="Directory">The directory, or null for Redis.</param>
public sealed record ModelRegistryAddress(ConfigurationOptions? Redis, string Prefix, string? Directory);

/// <summary>Opens a registry from a string: a Redis URL or configuration, or a directory.</summary>
public static class ModelRegistryFactory
{
    /// <summary>The key prefix when the address names none.</summary>
    public const string DefaultPrefix = "models";

    private const string Forms = "redis://[:password@]host[:port][/prefix], rediss://... (TLS), redis:<StackExchange.Redis configuration> or a directory";

    /// <summary>
    /// Parses <c>redis://[user:password@]host[:port][/prefix]</c> (<c>rediss://</c> for TLS),
    /// <c>redis:&lt;StackExchange.Redis configuration string&gt;</c> (prefix <c>models</c>), or a directory path.
    /// </summary>
    /// <exception cref="ArgumentException">The value is empty, another URL scheme, or a malformed Redis address.</exception>
    public static ModelRegistryAddress Parse(string registry)
    {
        if (string.IsNullOrWhiteSpace(registry))
        {
            throw new ArgumentException($"the registry is empty; give {Forms}", nameof(registry));
        }

        registry = registry.Trim();
        if (registry.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) || registry.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase))
        {
            return ParseUrl(registry);
        }

        if (registry.StartsWith("redis:", StringComparison.OrdinalIgnoreCase))
        {
            if (string.IsNullOrWhiteSpace(registry["redis:".Length..]))
            {
                throw new ArgumentException($"registry '{registry}' names no Redis endpoint; give {Forms}", nameof(registry));
            }

            ConfigurationOptions options;
            try
            {
                options = ConfigurationOptions.Parse(registry["redis:".Length..]);
            }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                throw new ArgumentException($"registry '{registry}': not a Redis configuration: {e.Message}", nameof(registry), e);
            }

            return options.EndPoints.Count == 0
                ? throw new ArgumentException($"registry '{registry}' names no Redis endpoint; give {Forms}", nameof(registry))
                : new ModelRegistryAddress(options, DefaultPrefix, null);
        }

        if (registry.Contains("://", StringComparison.Ordinal))
        {
            throw new ArgumentException($"registry '{registry}': unsupported scheme; give {Forms}", nameof(registry));
        }

        return new ModelRegistryAddress(null, DefaultPrefix, Path.GetFullPath(registry));
    }

    /// <summary>Connects to (or opens) the registry at <paramref name="registry"/>; dispose it when done.</summary>
    /// <param name="registry">See <see cref="Parse"/>.</param>
    /// <param name="create">Create a missing directory (a push); otherwise a missing directory is an error, which catches typos.</param>
    /// <param name="time">The clock for creation and routing times.</param>
    /// <exception cref="ArgumentException">See <see cref="Parse"/>.</exception>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist and <paramref name="create"/> is false.</exception>
    /// <exception cref="InvalidOperationException">Redis cannot be reached.</exception>
    public static async Task<IModelRegistry> OpenAsync(string registry, bool create = false, TimeProvider? time = null)
    {
        var address = Parse(registry);
        if (address.Directory is { } directory)
        {
            if (File.Exists(directory))
            {
                throw new ArgumentException($"registry '{directory}' is a file, not a directory", nameof(registry));
            }

            if (!create && !Directory.Exists(directory))
            {
                throw new DirectoryNotFoundException($"registry directory '{directory}' does not exist (a push creates it)");
            }

            return new FileSystemModelRegistry(directory, time);
        }

        var options = address.Redis!;
        options.AbortOnConnectFail = true;
        try
        {
            var connection = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
            return new RedisModelRegistry(connection, address.Prefix, time, ownsConnection: true);
        }
        catch (RedisConnectionException e)
        {
            throw new InvalidOperationException($"cannot reach the registry's Redis at {Endpoints(options)}: {e.Message}", e);
        }
    }

    /// <summary>The endpoints as people write them (<c>host:port</c>).</summary>
    public static string Endpoints(ConfigurationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return string.Join(",", options.EndPoints.Select(EndPointCollection.ToString));
    }

    private static ModelRegistryAddress ParseUrl(string registry)
    {
        if (!Uri.TryCreate(registry, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new ArgumentException($"registry '{registry}' is not a valid Redis URL; give {Forms}", nameof(registry));
        }

        string prefix = Uri.UnescapeDataString(uri.AbsolutePath.Trim('/'));
        if (prefix.Contains('/', StringComparison.Ordinal) || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            throw new ArgumentException($"registry '{registry}': the path must be a single key prefix (redis://host:port/prefix)", nameof(registry));
        }

        var options = new ConfigurationOptions { Ssl = uri.Scheme.Equals("rediss", StringComparison.OrdinalIgnoreCase) };
        options.EndPoints.Add(uri.Host, uri.IsDefaultPort || uri.Port < 0 ? 6379 : uri.Port);
        if (uri.UserInfo.Length > 0)
        {
            string[] parts = uri.UserInfo.Split(':', 2);
            options.User = parts.Length == 2 && parts[0].Length > 0 ? Uri.UnescapeDataString(parts[0]) : null;
            options.Password = Uri.UnescapeDataString(parts.Length == 2 ? parts[1] : parts[0]);
        }

        return new ModelRegistryAddress(options, prefix.Length == 0 ? DefaultPrefix : prefix, null);
    }
}

using StackExchange.Redis;
using Streaming.Local;

namespace Streaming.Tests.Infrastructure;

/// <summary>
/// A private one-node Redis Cluster (every slot on one redis-server) for one test class: commands are checked
/// as on a real cluster, so a script whose keys span slots fails with CROSSSLOT. Skips like
/// <see cref="RedisServerFixture"/> where redis-server is missing (a failure under CI=true).
/// </summary>
public sealed class RedisClusterFixture : IAsyncLifetime
{
    private LocalRedis? redis;
    private string? unavailable;

    /// <summary>The connection, or a skip (a failure under CI) when no redis-server could be started.</summary>
    public IConnectionMultiplexer Require()
    {
        if (redis is not null)
        {
            return redis.Connection;
        }

        string message = $"a one-node redis cluster is not available ({unavailable}); run ./streaming, which installs redis-server";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(message + "; CI requires it.");
        }

        Assert.Skip(message + "; skipped.");
        return null!;
    }

    public async ValueTask InitializeAsync() => (redis, unavailable) = await LocalRedis.TryStartAsync(cluster: true);

    public async ValueTask DisposeAsync()
    {
        if (redis is not null)
        {
            await redis.DisposeAsync();
        }
    }
}

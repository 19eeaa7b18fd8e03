using StackExchange.Redis;
using Streaming.Local;

namespace Streaming.Tests.Infrastructure;

/// <summary>
/// A private redis-server for one test class: a free loopback port, a temporary directory, no persistence.
/// Where redis-server is missing the tests skip, saying so; under CI=true that is a failure.
/// </summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    private LocalRedis? redis;
    private string? unavailable;

    public IConnectionMultiplexer Connection => redis?.Connection ?? throw new InvalidOperationException("Require() first");

    public int Port => redis?.Port ?? throw new InvalidOperationException("Require() first");

    /// <summary>The connection, or a skip (a failure under CI) when no redis-server could be started.</summary>
    public IConnectionMultiplexer Require()
    {
        if (redis is not null)
        {
            return redis.Connection;
        }

        string message = $"redis-server is not available ({unavailable}); run ./streaming, which installs it";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(message + "; CI requires it.");
        }

        Assert.Skip(message + "; skipped.");
        return null!;
    }

    public async ValueTask InitializeAsync() => (redis, unavailable) = await LocalRedis.TryStartAsync();

    /// <summary>Kills the server (an outage); <see cref="RestartServer"/> brings it back on the same port.</summary>
    public void StopServer() => redis!.Stop();

    /// <summary>Starts the server again on the same port; connections reconnect by themselves.</summary>
    public void RestartServer() => redis!.Restart();

    public async ValueTask DisposeAsync()
    {
        if (redis is not null)
        {
            await redis.DisposeAsync();
        }
    }
}

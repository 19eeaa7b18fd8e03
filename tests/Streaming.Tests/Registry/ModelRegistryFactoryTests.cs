using Streaming.Shared.Registry;

namespace Streaming.Tests.Registry;

[Trait("Kind", "Unit")]
public sealed class ModelRegistryFactoryTests
{
    [Fact]
    public void Parse_RedisUrlWithPortAndPrefix_GivesEndpointAndPrefix()
    {
        var address = ModelRegistryFactory.Parse("redis://cache.internal:6380/prod-models");

        Assert.NotNull(address.Redis);
        Assert.Equal("cache.internal:6380", ModelRegistryFactory.Endpoints(address.Redis));
        Assert.Equal("prod-models", address.Prefix);
        Assert.False(address.Redis.Ssl);
        Assert.Null(address.Directory);
    }

    [Fact]
    public void Parse_TlsUrlWithPasswordAndNoPort_UsesTheDefaults()
    {
        var address = ModelRegistryFactory.Parse("rediss://:s3cret@cache.internal");

        Assert.Equal(("cache.internal:6379", "models", true, "s3cret"), (ModelRegistryFactory.Endpoints(address.Redis!), address.Prefix, address.Redis!.Ssl, address.Redis!.Password));
    }

    [Fact]
    public void Parse_RedisConfigurationString_IsPassedToStackExchangeRedis()
    {
        var address = ModelRegistryFactory.Parse("redis:127.0.0.1:7000,password=x,connectTimeout=1234");

        Assert.Equal(("127.0.0.1:7000", 1234, "models"), (ModelRegistryFactory.Endpoints(address.Redis!), address.Redis!.ConnectTimeout, address.Prefix));
    }

    [Fact]
    public void Parse_AnythingElse_IsADirectory()
    {
        var address = ModelRegistryFactory.Parse("some/registry");

        Assert.Null(address.Redis);
        Assert.Equal(Path.GetFullPath("some/registry"), address.Directory);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData("http://example.com/models", "unsupported scheme")]
    [InlineData("redis://host:port", "not a valid Redis URL")]
    [InlineData("redis://host:6379/a/b", "single key prefix")]
    [InlineData("redis:", "no Redis endpoint")]
    public void Parse_InvalidValue_FailsSayingWhy(string value, string reason)
    {
        var error = Assert.Throws<ArgumentException>(() => ModelRegistryFactory.Parse(value));

        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_MissingDirectoryWithoutCreate_FailsNamingIt()
    {
        string missing = Path.Combine(Path.GetTempPath(), "streaming-no-registry-" + Guid.NewGuid().ToString("N"));

        var error = await Assert.ThrowsAsync<DirectoryNotFoundException>(() => ModelRegistryFactory.OpenAsync(missing));

        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(missing));
    }

    [Fact]
    public async Task Open_UnreachableRedis_FailsNamingTheEndpoint()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();   // a port nobody listens on

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ModelRegistryFactory.OpenAsync($"redis:127.0.0.1:{port},connectTimeout=500"));

        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
    }
}

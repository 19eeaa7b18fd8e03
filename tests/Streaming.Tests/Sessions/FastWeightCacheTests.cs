using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Sessions;

[Trait("Kind", "Integration")]
public sealed class FastWeightCacheTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    [Fact]
    public async Task SetThenGet_RoundTripsWithinHalfPrecisionAndTagsTheVersion()
    {
        var cache = new FastWeightCache(redis.Require(), "w" + Guid.NewGuid().ToString("N")[..8], TimeSpan.FromMinutes(5));
        var values = Enumerable.Range(0, 705).Select(i => (float)Math.Sin(i) * 0.3f).ToArray();

        await cache.SetManyAsync([("u1", new CachedFastWeights("model-abc", 9, values))]);
        var got = await cache.GetManyAsync(["u1", "missing"]);

        Assert.Null(got[1]);
        Assert.Equal(("model-abc", 9L), (got[0]!.ModelVersion, got[0]!.Interactions));
        Assert.All(values.Zip(got[0]!.Values), p => Assert.Equal(p.First, p.Second, tolerance: 1e-3));
    }
}

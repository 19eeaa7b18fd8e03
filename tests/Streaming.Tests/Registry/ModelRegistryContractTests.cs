using Microsoft.Extensions.Time.Testing;
using Streaming.Shared.Registry;

namespace Streaming.Tests.Registry;

/// <summary>What every registry store must do; run against the file store and against Redis.</summary>
public abstract class ModelRegistryContractTests
{
    protected static readonly DateTimeOffset T0 = new(2026, 11, 23, 13, 0, 0, TimeSpan.Zero);

    protected FakeTimeProvider Time { get; } = new(T0);

    /// <summary>A new, empty registry (its own directory or key prefix).</summary>
    protected abstract IModelRegistry CreateRegistry();

    /// <summary>A second handle on the same storage, as another process would open it.</summary>
    protected abstract IModelRegistry Reopen(IModelRegistry registry);

    /// <summary>Changes one byte of a version's stored blob behind the registry's back.</summary>
    protected abstract Task TamperAsync(IModelRegistry registry, string version);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Push_ThenFindListDownload_RoundTripsManifestAndBytes()
    {
        await using var registry = CreateRegistry();
        byte[] file = RegistryFixtures.ModelFile(seed: 1, validationMae: 0.75);

        var pushed = await registry.PushAsync(file, new ModelPushOptions { Notes = "first", Source = "test", Metrics = new Dictionary<string, double> { ["eval.mae"] = 0.7 } }, Ct);

        Assert.Equal("v1", pushed.Version);
        Assert.Equal(T0, pushed.CreatedAt);
        Assert.Equal(file.Length, pushed.SizeBytes);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(file)), pushed.Sha256);
        Assert.Equal("metasgd", pushed.Algorithm);
        Assert.Equal(("synthetic", "fp1", 100, 20, 30), (pushed.Training.Data, pushed.Training.DataFingerprint, pushed.Training.TrainUsers, pushed.Training.ValidationUsers, pushed.Training.TestUsers));
        Assert.Equal(0.75, pushed.Metric(MetricNames.ValidationMae));
        Assert.Equal(0.7, pushed.Metric("eval.mae"));
        Assert.Null(pushed.Metric("nothing"));

        var found = await Reopen(registry).FindAsync("v1", Ct);
        Assert.NotNull(found);
        Assert.Equal(pushed with { Metrics = found.Metrics }, found);
        Assert.Equal(pushed.Metrics.OrderBy(m => m.Key), found.Metrics.OrderBy(m => m.Key));
        Assert.Equal(pushed.Hyperparameters, found.Hyperparameters);
        Assert.Equal(["v1"], (await registry.ListAsync(Ct)).Select(m => m.Version));
        Assert.Equal(file, await registry.DownloadAsync("v1", Ct));
    }

    [Fact]
    public async Task Push_Sequential_VersionsIncreaseAndListIsOldestFirst()
    {
        await using var registry = CreateRegistry();
        for (int i = 1; i <= 11; i++)
        {
            Assert.Equal($"v{i}", (await registry.PushAsync(RegistryFixtures.ModelFile(i), null, Ct)).Version);
        }

        Assert.Equal(Enumerable.Range(1, 11).Select(i => $"v{i}"), (await registry.ListAsync(Ct)).Select(m => m.Version));
    }

    [Fact]
    public async Task Push_ManyInParallel_GetsDistinctVersionsAndEveryOneIsComplete()
    {
        await using var registry = CreateRegistry();
        var files = Enumerable.Range(1, 24).Select(i => RegistryFixtures.ModelFile(i)).ToArray();

        // Half through one handle, half through another, as two processes would.
        var other = Reopen(registry);
        var pushed = await Task.WhenAll(files.Select((f, i) => Task.Run(() => (i % 2 == 0 ? registry : other).PushAsync(f, null, Ct), Ct)));

        Assert.Equal(Enumerable.Range(1, 24).Select(i => $"v{i}").Order(), pushed.Select(p => p.Version).Order());
        Assert.Equal(24, (await registry.ListAsync(Ct)).Count);
        foreach (var p in pushed)
        {
            Assert.Equal(files.Single(f => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(f)) == p.Sha256), await registry.DownloadAsync(p.Version, Ct));
        }
    }

    [Fact]
    public async Task Push_NotAModelFile_IsRefusedAndNothingIsStored()
    {
        await using var registry = CreateRegistry();

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => registry.PushAsync("hello, not a model"u8.ToArray(), null, Ct));

        Assert.Contains("bad magic", error.Message, StringComparison.Ordinal);
        Assert.Empty(await registry.ListAsync(Ct));
    }

    [Fact]
    public async Task Push_WeightsAlteredAfterWriting_IsRefusedWithChecksumMismatch()
    {
        await using var registry = CreateRegistry();
        byte[] file = RegistryFixtures.ModelFile(1);
        file[^3] ^= 0x40;

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => registry.PushAsync(file, null, Ct));

        Assert.Contains("checksum mismatch", error.Message, StringComparison.Ordinal);
        Assert.Empty(await registry.ListAsync(Ct));
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public async Task Push_NonFiniteWeights_IsRefused(float poison)
    {
        await using var registry = CreateRegistry();

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => registry.PushAsync(RegistryFixtures.ModelFile(1, poison: poison), null, Ct));

        Assert.Contains("NaN or infinite", error.Message, StringComparison.Ordinal);
        Assert.Empty(await registry.ListAsync(Ct));
    }

    [Fact]
    public async Task Push_TruncatedFile_IsRefused()
    {
        await using var registry = CreateRegistry();
        byte[] file = RegistryFixtures.ModelFile(1);

        await Assert.ThrowsAsync<InvalidDataException>(() => registry.PushAsync(file[..^4], null, Ct));
        Assert.Empty(await registry.ListAsync(Ct));
    }

    [Fact]
    public async Task Push_UnknownParent_IsRefusedNamingIt()
    {
        await using var registry = CreateRegistry();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => registry.PushAsync(RegistryFixtures.ModelFile(1), new ModelPushOptions { ParentVersion = "v7" }, Ct));

        Assert.Contains("'v7'", error.Message, StringComparison.Ordinal);
        var parent = await registry.PushAsync(RegistryFixtures.ModelFile(2), null, Ct);
        var child = await registry.PushAsync(RegistryFixtures.ModelFile(3), new ModelPushOptions { ParentVersion = parent.Version }, Ct);
        Assert.Equal(parent.Version, child.ParentVersion);
    }

    [Fact]
    public async Task Download_TamperedBlob_IsRefusedNamingTheVersion()
    {
        await using var registry = CreateRegistry();
        await registry.PushAsync(RegistryFixtures.ModelFile(1), null, Ct);
        var pushed = await registry.PushAsync(RegistryFixtures.ModelFile(2), null, Ct);

        await TamperAsync(registry, pushed.Version);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => registry.DownloadAsync(pushed.Version, Ct));
        Assert.Contains("model v2", error.Message, StringComparison.Ordinal);
        Assert.Contains("checksum mismatch", error.Message, StringComparison.Ordinal);
        Assert.Equal(RegistryFixtures.ModelFile(1), await registry.DownloadAsync("v1", Ct));
    }

    [Theory]
    [InlineData("v9")]
    [InlineData("v0")]
    [InlineData("V1")]
    [InlineData("../v1")]
    [InlineData("")]
    public async Task Find_UnknownOrMalformedVersion_IsNullAndDownloadNamesIt(string version)
    {
        await using var registry = CreateRegistry();
        await registry.PushAsync(RegistryFixtures.ModelFile(1), null, Ct);

        Assert.Null(await registry.FindAsync(version, Ct));
        var error = await Assert.ThrowsAsync<ArgumentException>(() => registry.DownloadAsync(version, Ct));
        Assert.Contains($"unknown model version '{version}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Routing_NewRegistry_IsEmptyAtRevisionZero()
    {
        await using var registry = CreateRegistry();

        var routing = await registry.GetRoutingAsync(Ct);

        Assert.Equal((null, null, 0L, 0), (routing.Active, routing.Canary, routing.Revision, routing.History.Count));
    }

    [Fact]
    public async Task TryUpdateRouting_StaleRevision_ChangesNothing()
    {
        await using var registry = CreateRegistry();
        await PushAsync(registry, 2);
        var first = await registry.TryUpdateRoutingAsync(0, new ModelRouting { Active = "v1" }, Ct);

        var stale = await registry.TryUpdateRoutingAsync(0, new ModelRouting { Active = "v2" }, Ct);

        Assert.NotNull(first);
        Assert.Equal((1L, T0), (first.Revision, first.UpdatedAt));
        Assert.Null(stale);
        var routing = await Reopen(registry).GetRoutingAsync(Ct);
        Assert.Equal(("v1", 1L), (routing.Active, routing.Revision));
    }

    [Fact]
    public async Task TryUpdateRouting_UnknownVersion_IsRefused()
    {
        await using var registry = CreateRegistry();
        await PushAsync(registry, 1);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => registry.TryUpdateRoutingAsync(0, new ModelRouting { Active = "v1", Canary = "v5", CanaryPercent = 5 }, Ct));

        Assert.Contains("'v5'", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await registry.GetRoutingAsync(Ct)).Revision);
    }

    [Fact]
    public async Task TryUpdateRouting_ManyWritersOnOneRevision_ExactlyOneWins()
    {
        await using var registry = CreateRegistry();
        await PushAsync(registry, 16);
        var other = Reopen(registry);

        var results = await Task.WhenAll(Enumerable.Range(1, 16).Select(i =>
            Task.Run(() => (i % 2 == 0 ? registry : other).TryUpdateRoutingAsync(0, new ModelRouting { Active = $"v{i}" }, Ct), Ct)));

        var winner = Assert.Single(results, r => r is not null);
        var stored = await registry.GetRoutingAsync(Ct);
        Assert.Equal((winner!.Active, 1L), (stored.Active, stored.Revision));
    }

    [Fact]
    public async Task Promote_ManyConcurrentWriters_CountsEveryChangeAndLosesNoHistory()
    {
        await using var registry = CreateRegistry();
        const int n = 16;
        await PushAsync(registry, n);
        var other = Reopen(registry);

        await Task.WhenAll(Enumerable.Range(1, n).Select(i => Task.Run(() => (i % 2 == 0 ? registry : other).PromoteAsync($"v{i}", gate: null, Ct), Ct)));

        // Every promotion changed something (distinct versions), so each is one revision; and each previous
        // active version went into the history exactly once: active + history is every version, once.
        var routing = await registry.GetRoutingAsync(Ct);
        Assert.Equal(n, routing.Revision);
        Assert.Equal(n - 1, routing.History.Count);
        Assert.Equal(Enumerable.Range(1, n).Select(i => $"v{i}").Order(), routing.History.Append(routing.Active!).Order());
    }

    [Fact]
    public async Task Promote_ThenRollback_RestoresThePreviousVersion()
    {
        await using var registry = CreateRegistry();
        await PushAsync(registry, 3);
        await registry.PromoteAsync("v1", null, Ct);
        await registry.PromoteAsync("v2", null, Ct);
        var promoted = await registry.PromoteAsync("v3", null, Ct);
        Assert.Equal("v3", promoted.Active);
        Assert.Equal(["v2", "v1"], promoted.History);

        var back = await registry.RollbackAsync(Ct);
        Assert.Equal(("v2", 4L), (back.Active, back.Revision));
        Assert.Equal(["v1"], back.History);

        var again = await Reopen(registry).RollbackAsync(Ct);
        Assert.Equal(("v1", 0), (again.Active, again.History.Count));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => registry.RollbackAsync(Ct));
        Assert.Contains("nothing to roll back to", error.Message, StringComparison.Ordinal);
        Assert.Equal("v1", (await registry.GetRoutingAsync(Ct)).Active);
    }

    [Fact]
    public async Task Promote_ActiveVersionAgain_ChangesNothing()
    {
        await using var registry = CreateRegistry();
        await PushAsync(registry, 1);
        var first = await registry.PromoteAsync("v1", null, Ct);

        var again = await registry.PromoteAsync("v1", null, Ct);

        Assert.Equal((1L, 1L, 0), (first.Revision, again.Revision, again.History.Count));
    }

    [Fact]
    public async Task Promote_UnknownVersion_IsRefusedNamingIt()
    {
        await using var registry = CreateRegistry();
        await PushAsync(registry, 1);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => registry.PromoteAsync("v2", null, Ct));

        Assert.Contains("unknown model version 'v2'", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await registry.GetRoutingAsync(Ct)).Revision);
    }

    [Fact]
    public async Task Canary_SetThenPromoted_EndsTheCanary()
    {
        await using var registry = CreateRegistry();
        await PushAsync(registry, 2);
        await registry.PromoteAsync("v1", null, Ct);

        var canary = await registry.SetCanaryAsync("v2", 12.5, null, Ct);
        Assert.Equal(("v1", "v2", 12.5), (canary.Active, canary.Canary, canary.CanaryPercent));

        var promoted = await registry.PromoteAsync("v2", null, Ct);
        Assert.Equal(("v2", (string?)null, 0.0), (promoted.Active, promoted.Canary, promoted.CanaryPercent));
        Assert.Equal(["v1"], promoted.History);
    }

    [Fact]
    public async Task Canary_Cleared_EveryoneGetsTheActiveVersion()
    {
        await using var registry = CreateRegistry();
        await PushAsync(registry, 2);
        await registry.PromoteAsync("v1", null, Ct);
        await registry.SetCanaryAsync("v2", 100, null, Ct);
        Assert.Equal("v2", (await registry.GetRoutingAsync(Ct)).VersionFor("u-1"));

        var cleared = await registry.ClearCanaryAsync(Ct);

        Assert.Equal(((string?)null, 0.0, "v1"), (cleared.Canary, cleared.CanaryPercent, cleared.VersionFor("u-1")));
    }

    [Fact]
    public async Task Canary_WithoutActiveOrOfTheActiveOrBadPercent_IsRefused()
    {
        await using var registry = CreateRegistry();
        await PushAsync(registry, 2);

        await Assert.ThrowsAsync<InvalidOperationException>(() => registry.SetCanaryAsync("v2", 10, null, Ct));
        await registry.PromoteAsync("v1", null, Ct);
        await Assert.ThrowsAsync<InvalidOperationException>(() => registry.SetCanaryAsync("v1", 10, null, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => registry.SetCanaryAsync("v2", 0, null, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => registry.SetCanaryAsync("v2", 100.5, null, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => registry.SetCanaryAsync("v3", 10, null, Ct));
        Assert.Null((await registry.GetRoutingAsync(Ct)).Canary);
    }

    [Fact]
    public async Task Promote_WorseThanActiveByMoreThanTheGate_IsRefused()
    {
        await using var registry = CreateRegistry();
        await registry.PushAsync(RegistryFixtures.ModelFile(1, validationMae: 0.80), null, Ct);
        await registry.PushAsync(RegistryFixtures.ModelFile(2, validationMae: 0.85), null, Ct);
        await registry.PushAsync(RegistryFixtures.ModelFile(3, validationMae: 0.805), null, Ct);
        await registry.PromoteAsync("v1", PromotionGate.Default, Ct);

        var error = await Assert.ThrowsAsync<PromotionRefusedException>(() => registry.PromoteAsync("v2", PromotionGate.Default, Ct));
        await Assert.ThrowsAsync<PromotionRefusedException>(() => registry.SetCanaryAsync("v2", 5, PromotionGate.Default, Ct));

        Assert.Contains("gate refused v2", error.Message, StringComparison.Ordinal);
        Assert.Equal(("v1", 1L), ((await registry.GetRoutingAsync(Ct)).Active, (await registry.GetRoutingAsync(Ct)).Revision));
        Assert.Equal("v3", (await registry.PromoteAsync("v3", PromotionGate.Default, Ct)).Active);   // within the tolerance
        Assert.Equal("v2", (await registry.PromoteAsync("v2", gate: null, Ct)).Active);             // no gate: forced
    }

    private static async Task PushAsync(IModelRegistry registry, int count)
    {
        for (int i = 1; i <= count; i++)
        {
            await registry.PushAsync(RegistryFixtures.ModelFile(i), null, Ct);
        }
    }
}

[Trait("Kind", "Unit")]
public sealed class FileSystemModelRegistryTests : ModelRegistryContractTests, IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-registry-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    protected override IModelRegistry CreateRegistry() => new FileSystemModelRegistry(Path.Combine(directory, Guid.NewGuid().ToString("N")), Time);

    protected override IModelRegistry Reopen(IModelRegistry registry) => new FileSystemModelRegistry(registry.Description, Time);

    protected override Task TamperAsync(IModelRegistry registry, string version)
    {
        string path = Path.Combine(registry.Description, "versions", version, "model.bin");
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(path, bytes);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Push_AfterAnAbandonedClaimAndStaging_SkipsTheNumberAndShowsOnlyCompleteVersions()
    {
        // A pusher that died after claiming v1 and half-writing it: v1 never becomes visible.
        await using var registry = CreateRegistry();
        File.WriteAllBytes(Path.Combine(registry.Description, "claims", "v1"), []);
        Directory.CreateDirectory(Path.Combine(registry.Description, "staging", "v1.dead"));
        File.WriteAllBytes(Path.Combine(registry.Description, "staging", "v1.dead", "model.bin"), [1, 2, 3]);

        var pushed = await registry.PushAsync(RegistryFixtures.ModelFile(1), null, TestContext.Current.CancellationToken);

        Assert.Equal("v2", pushed.Version);
        Assert.Equal(["v2"], (await registry.ListAsync(TestContext.Current.CancellationToken)).Select(m => m.Version));
        Assert.Null(await registry.FindAsync("v1", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Routing_IsStoredAsReadableJson()
    {
        await using var registry = CreateRegistry();
        await registry.PushAsync(RegistryFixtures.ModelFile(1), null, TestContext.Current.CancellationToken);
        await registry.PromoteAsync("v1", null, TestContext.Current.CancellationToken);

        string json = File.ReadAllText(Path.Combine(registry.Description, "routing.json"));

        Assert.Contains("\"active\": \"v1\"", json, StringComparison.Ordinal);
        Assert.Contains("\"revision\": 1", json, StringComparison.Ordinal);
    }
}

[Trait("Kind", "Integration")]
public sealed class RedisModelRegistryTests(Infrastructure.RedisServerFixture redis) : ModelRegistryContractTests, IClassFixture<Infrastructure.RedisServerFixture>
{
    protected override IModelRegistry CreateRegistry() => new RedisModelRegistry(redis.Require(), "models-" + Guid.NewGuid().ToString("N")[..12], Time);

    protected override IModelRegistry Reopen(IModelRegistry registry) => new RedisModelRegistry(redis.Require(), Prefix(registry), Time);

    protected override async Task TamperAsync(IModelRegistry registry, string version)
    {
        var db = redis.Require().GetDatabase();
        string key = $"{Prefix(registry)}:blob:{version}";
        byte[] bytes = (byte[])(await db.StringGetAsync(key))!;
        bytes[bytes.Length / 2] ^= 0x01;
        await db.StringSetAsync(key, bytes);
    }

    [Fact]
    public async Task Push_WritesTheDocumentedKeys()
    {
        await using var registry = CreateRegistry();
        await registry.PushAsync(RegistryFixtures.ModelFile(1), null, TestContext.Current.CancellationToken);
        await registry.PromoteAsync("v1", null, TestContext.Current.CancellationToken);
        var db = redis.Require().GetDatabase();
        string prefix = Prefix(registry);

        Assert.Equal(1, (long)await db.StringGetAsync($"{prefix}:seq"));
        Assert.Equal(RegistryFixtures.ModelFile(1), (byte[])(await db.StringGetAsync($"{prefix}:blob:v1"))!);
        Assert.Contains("\"version\": \"v1\"", (string)(await db.StringGetAsync($"{prefix}:manifest:v1"))!, StringComparison.Ordinal);
        Assert.Equal(1, await db.SortedSetScoreAsync($"{prefix}:versions", "v1"));
        Assert.Contains("\"revision\": 1", (string)(await db.StringGetAsync($"{prefix}:routing"))!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Find_ManifestWrittenButNotYetIndexed_IsInvisible()
    {
        // The state between a pusher's manifest write and its index write.
        await using var registry = CreateRegistry();
        await registry.PushAsync(RegistryFixtures.ModelFile(1), null, TestContext.Current.CancellationToken);
        var db = redis.Require().GetDatabase();
        await db.SortedSetRemoveAsync($"{Prefix(registry)}:versions", "v1");

        Assert.Null(await registry.FindAsync("v1", TestContext.Current.CancellationToken));
        Assert.Empty(await registry.ListAsync(TestContext.Current.CancellationToken));
    }

    private static string Prefix(IModelRegistry registry) => registry.Description[(registry.Description.IndexOf('(', StringComparison.Ordinal) + 1)..^1];
}

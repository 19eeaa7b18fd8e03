using System.CommandLine;
using System.Text.Json;
using Streaming.Cli.Commands;
using Streaming.Shared.Registry;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Registry;

/// <summary><c>streaming models ...</c> run in-process, through the parser, as a user types them.</summary>
[Trait("Kind", "Integration")]
public sealed class ModelsCommandTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-models-cli-").FullName;

    private string Registry => Path.Combine(directory, "registry");

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public async Task PushPromoteCanaryList_OnADirectory_ShowsEachVersionsRoleInATable()
    {
        Assert.Equal(0, (await RunAsync("models", "push", Model(1, 0.80), "--registry", Registry, "--promote")).Code);
        var pushed = await RunAsync("models", "push", Model(2, 0.79), "--registry", Registry, "--parent", "v1", "--metric", "eval.mae=0.71", "--notes", "second");
        var canary = await RunAsync("models", "canary", "v2", "--percent", "10", "--registry", Registry);
        var list = await RunAsync("models", "list", "--registry", Registry);

        Assert.Equal(0, pushed.Code);
        Assert.Contains("Pushed v2", pushed.Out, StringComparison.Ordinal);
        Assert.Equal(0, canary.Code);
        Assert.Contains("canary v2 (10%)", canary.Out, StringComparison.Ordinal);
        Assert.Equal(0, list.Code);
        var rows = list.Out.Split('\n');
        Assert.Contains(rows, r => r.Contains("v1", StringComparison.Ordinal) && r.Contains("0.8000", StringComparison.Ordinal) && r.Contains("active", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.Contains("v2", StringComparison.Ordinal) && r.Contains("0.7900", StringComparison.Ordinal) && r.Contains("canary (10%)", StringComparison.Ordinal));
        Assert.Contains("Routing: active v1, canary v2 (10%) (revision 2)", list.Out, StringComparison.Ordinal);
        Assert.Empty(list.Err);
    }

    [Fact]
    public async Task Show_KnownVersion_PrintsItsManifestAsJson()
    {
        await RunAsync("models", "push", Model(1, 0.80), "--registry", Registry, "--metric", "eval.mae=0.71");

        var show = await RunAsync("models", "show", "v1", "--registry", Registry);

        Assert.Equal(0, show.Code);
        using var json = JsonDocument.Parse(show.Out);
        Assert.Equal("v1", json.RootElement.GetProperty("version").GetString());
        Assert.Equal(0.71, json.RootElement.GetProperty("metrics").GetProperty("eval.mae").GetDouble());
        Assert.Equal(64, json.RootElement.GetProperty("sha256").GetString()!.Length);
    }

    [Theory]
    [InlineData("show", "v9")]
    [InlineData("promote", "v9")]
    [InlineData("canary", "v9", "--percent", "5")]
    public async Task UnknownVersion_ExitsWithCode2AndNamesIt(params string[] command)
    {
        await RunAsync("models", "push", Model(1, 0.80), "--registry", Registry, "--promote");

        var result = await RunAsync(["models", .. command, "--registry", Registry]);

        Assert.Equal(2, result.Code);
        Assert.StartsWith("error: unknown model version 'v9'", result.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Err, StringComparison.Ordinal);   // no stack trace
    }

    [Fact]
    public async Task Push_NotAModelFile_ExitsWithCode2AndNothingIsStored()
    {
        string bad = Path.Combine(directory, "notes.txt");
        File.WriteAllText(bad, "not a model");

        var result = await RunAsync("models", "push", bad, "--registry", Registry);

        Assert.Equal(2, result.Code);
        Assert.Contains("not a Streaming model file", result.Err, StringComparison.Ordinal);
        Assert.Contains("No versions", (await RunAsync("models", "list", "--registry", Registry)).Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Promote_WorseModel_IsRefusedByTheGateUnlessForced()
    {
        await RunAsync("models", "push", Model(1, 0.80), "--registry", Registry, "--promote");
        await RunAsync("models", "push", Model(2, 0.90), "--registry", Registry);

        var refused = await RunAsync("models", "promote", "v2", "--registry", Registry);
        var forced = await RunAsync("models", "promote", "v2", "--registry", Registry, "--force");

        Assert.Equal(2, refused.Code);
        Assert.Contains("gate refused v2: validation.mae 0.9000 is worse than the active v1's 0.8000", refused.Err, StringComparison.Ordinal);
        Assert.Contains("--force", refused.Err, StringComparison.Ordinal);
        Assert.Equal(0, forced.Code);
        Assert.Contains("Promoted v2: active v2, previous v1", forced.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("promote", false)]
    [InlineData("promote", true)]
    [InlineData("canary", false)]
    [InlineData("canary", true)]
    public async Task PromoteOrCanary_TamperedOrCraftedVersion_IsRefusedWithTheReasonAndTheRoutingIsUnchanged(string command, bool crafted)
    {
        await RunAsync("models", "push", Model(1, 0.80), "--registry", Registry, "--promote");
        await RunAsync("models", "push", Model(2, 0.79), "--registry", Registry);
        byte[] good = File.ReadAllBytes(Path.Combine(Registry, "versions", "v2", "model.bin"));
        byte[] bad = crafted ? RegistryFixtures.Crafted(good) : [.. good[..^1], (byte)(good[^1] ^ 0x40)];
        RegistryFixtures.Replace(Registry, "v2", bad, matchChecksum: crafted);
        await using var registry = new FileSystemModelRegistry(Registry);
        var before = await registry.GetRoutingAsync(TestContext.Current.CancellationToken);

        var result = command == "promote"
            ? await RunAsync("models", "promote", "v2", "--registry", Registry, "--force")
            : await RunAsync("models", "canary", "v2", "--percent", "10", "--registry", Registry, "--force");

        Assert.Equal(2, result.Code);
        Assert.Contains("model v2", result.Err, StringComparison.Ordinal);
        Assert.Contains(crafted ? "unreadable weights" : "checksum mismatch", result.Err, StringComparison.Ordinal);
        var after = await registry.GetRoutingAsync(TestContext.Current.CancellationToken);
        Assert.Equal((before.Active, before.Canary, before.Revision), (after.Active, after.Canary, after.Revision));
    }

    [Fact]
    public async Task Push_WithPromoteRefusedByTheGate_KeepsTheVersionButFails()
    {
        await RunAsync("models", "push", Model(1, 0.80), "--registry", Registry, "--promote");

        var result = await RunAsync("models", "push", Model(2, 0.90), "--registry", Registry, "--promote");

        Assert.Equal(2, result.Code);
        Assert.Contains("Pushed v2", result.Out, StringComparison.Ordinal);
        Assert.Contains("gate refused v2", result.Err, StringComparison.Ordinal);
        await using var registry = new FileSystemModelRegistry(Registry);
        Assert.Equal("v1", (await registry.GetRoutingAsync(TestContext.Current.CancellationToken)).Active);
        Assert.NotNull(await registry.FindAsync("v2", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Rollback_RestoresThePreviousVersionAndFailsWhenThereIsNone()
    {
        await RunAsync("models", "push", Model(1, 0.80), "--registry", Registry, "--promote");
        await RunAsync("models", "push", Model(2, 0.79), "--registry", Registry, "--promote");

        var back = await RunAsync("models", "rollback", "--registry", Registry);
        var nothing = await RunAsync("models", "rollback", "--registry", Registry);

        Assert.Equal(0, back.Code);
        Assert.Contains("Rolled back from v2 to v1", back.Out, StringComparison.Ordinal);
        Assert.Equal(2, nothing.Code);
        Assert.Contains("error: nothing to roll back to", nothing.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Canary_Clear_EndsIt()
    {
        await RunAsync("models", "push", Model(1, 0.80), "--registry", Registry, "--promote");
        await RunAsync("models", "push", Model(2, 0.80), "--registry", Registry, "--canary", "25");

        var cleared = await RunAsync("models", "canary", "--clear", "--registry", Registry);

        Assert.Equal(0, cleared.Code);
        Assert.Contains("Canary ended: active v1 (revision 3)", cleared.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_MissingDirectoryOrBadRegistry_ExitsWithCode2()
    {
        var missing = await RunAsync("models", "list", "--registry", Path.Combine(directory, "nowhere"));
        var scheme = await RunAsync("models", "list", "--registry", "http://example.com");

        Assert.Equal((2, 2), (missing.Code, scheme.Code));
        Assert.Contains("does not exist", missing.Err, StringComparison.Ordinal);
        Assert.Contains("unsupported scheme", scheme.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PushPromoteList_OnRedis_WorksThroughTheUrl()
    {
        redis.Require();
        string url = $"redis://127.0.0.1:{redis.Port}/cli-{Guid.NewGuid():N}";

        var push = await RunAsync("models", "push", Model(1, 0.80), "--registry", url, "--promote");
        var list = await RunAsync("models", "list", "--registry", url);

        Assert.Equal(0, push.Code);
        Assert.Equal(0, list.Code);
        Assert.Contains(list.Out.Split('\n'), r => r.Contains("v1", StringComparison.Ordinal) && r.Contains("active", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LiveThenCanaryAuto_OnRedisWithAStreamWhereTheCanaryIsBetter_ShowsTheTableAndPromotes()
    {
        redis.Require();
        string url = $"redis://127.0.0.1:{redis.Port}/cli-{Guid.NewGuid():N}";
        string prefix = "s" + Guid.NewGuid().ToString("N")[..8];
        await RunAsync("models", "push", Model(1, 0.80), "--registry", url, "--promote");
        await RunAsync("models", "push", Model(2, 0.80), "--registry", url, "--canary", "50");
        // Served lists and the interactions after them, through the session store: the canary's users hit 6 of 10, the others 2.
        var store = new Shared.Sessions.RedisSessionStore(redis.Connection, new Shared.Sessions.SessionStoreOptions(), prefix);
        await using (var registry = await ModelRegistryFactory.OpenAsync(url))
        {
            await Online.ScriptedCanaryStream.RunAsync(store, await registry.GetRoutingAsync(TestContext.Current.CancellationToken), new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero), (version, _) => version == "v2" ? 6 : 2);
        }

        var live = await RunAsync("models", "live", "--registry", url, "--prefix", prefix);
        var auto = await RunAsync("models", "canary", "v2", "--percent", "50", "--auto", "--interval", "0.05", "--max-minutes", "1", "--registry", url, "--prefix", prefix);

        Assert.True(live.Code == 0, live.Err);
        var rows = live.Out.Split('\n');
        Assert.Contains(rows, r => r.Contains("v1", StringComparison.Ordinal) && r.Contains("active", StringComparison.Ordinal) && r.Contains("canary v2", StringComparison.Ordinal) && r.Contains("0.2000 [", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.Contains("v2", StringComparison.Ordinal) && r.Contains("canary (50%)", StringComparison.Ordinal) && r.Contains("0.6000 [", StringComparison.Ordinal));
        Assert.Equal(0, auto.Code);
        Assert.Contains("promote v2: better than v1", auto.Out, StringComparison.Ordinal);
        Assert.Contains("Decided: active v2", auto.Out, StringComparison.Ordinal);
    }

    private string Model(int seed, double mae)
    {
        string path = Path.Combine(directory, $"m{seed}-{Guid.NewGuid():N}.model");
        File.WriteAllBytes(path, RegistryFixtures.ModelFile(seed, mae));
        return path;
    }

    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var root = new RootCommand { ModelsCommand.Create() };
        int code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, TestContext.Current.CancellationToken);
        return (code, output.ToString(), error.ToString());
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Streaming.Tests.Operations;

/// <summary>The repository's files, found from the test binary (artifacts/bin/Streaming.Tests/release).</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        foreach (var start in new[] { Environment.GetEnvironmentVariable("STREAMING_ROOT"), AppContext.BaseDirectory })
        {
            for (var dir = start is null ? null : new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Streaming.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException("Streaming.sln not found above the test binary");
    }
}

/// <summary>What a command printed and returned.</summary>
public sealed record CommandResult(int ExitCode, string StandardOutput, string StandardError)
{
    public string Output => StandardOutput + StandardError;
}

/// <summary>
/// An overlay of deploy/k8s rendered by <c>kubectl kustomize</c> and checked by deploy/k8s/validate (offline,
/// against the Kubernetes and CRD schemas), with its objects for the tests to inspect. Rendered once per
/// overlay and process. Missing tools are a failure, never a skip: <c>./streaming test</c> installs them.
/// </summary>
public sealed class RenderedOverlay
{
    public static readonly string[] Overlays = ["dev", "cpu", "gpu"];

    private static readonly ConcurrentDictionary<string, Lazy<RenderedOverlay>> Cache = new(StringComparer.Ordinal);

    private RenderedOverlay(string name, string yaml, CommandResult validation, IReadOnlyList<JsonElement> objects)
    {
        Name = name;
        Yaml = yaml;
        Validation = validation;
        Objects = objects;
    }

    public string Name { get; }

    public string Yaml { get; }

    public CommandResult Validation { get; }

    public IReadOnlyList<JsonElement> Objects { get; }

    public static RenderedOverlay Get(string overlay) =>
        Cache.GetOrAdd(overlay, o => new Lazy<RenderedOverlay>(() => Render(o))).Value;

    public IEnumerable<JsonElement> OfKind(string kind) => Objects.Where(o => o.GetProperty("kind").GetString() == kind);

    public JsonElement Named(string kind, string name) =>
        OfKind(kind).SingleOrDefault(o => o.GetProperty("metadata").GetProperty("name").GetString() == name) is { ValueKind: JsonValueKind.Object } found
            ? found
            : throw new Xunit.Sdk.XunitException($"{Name}: no {kind} named {name}");

    /// <summary>Runs the validator on <paramref name="yaml"/>; the objects go to <paramref name="jsonOut"/> when given.</summary>
    public static CommandResult Validate(string yaml, string? jsonOut = null)
    {
        string validator = Repository.PathOf("deploy", "k8s", "validate", "validate.mjs");
        if (!Directory.Exists(Repository.PathOf("deploy", "k8s", "validate", "node_modules")))
        {
            throw new InvalidOperationException(
                "deploy/k8s/validate/node_modules is missing: run the tests through ./streaming test, or `npm ci --prefix deploy/k8s/validate`");
        }

        string[] args = jsonOut is null ? [validator] : [validator, "--json", jsonOut];
        return Run("node", args, yaml);
    }

    public static CommandResult Run(string program, IReadOnlyList<string> args, string? input = null)
    {
        var start = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = input is not null,
            WorkingDirectory = Repository.Root,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{program} is not installed ({e.Message}): ./streaming test installs it", e);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (input is not null)
            {
                process.StandardInput.Write(input);
                process.StandardInput.Close();
            }

            if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish in 2 minutes");
            }

            return new CommandResult(process.ExitCode, stdout.Result, stderr.Result);
        }
    }

    private static RenderedOverlay Render(string overlay)
    {
        var kustomize = Run("kubectl", ["kustomize", Repository.PathOf("deploy", "k8s", "overlays", overlay)]);
        if (kustomize.ExitCode != 0)
        {
            throw new Xunit.Sdk.XunitException($"kubectl kustomize deploy/k8s/overlays/{overlay} failed:\n{kustomize.StandardError}");
        }

        string json = Path.Combine(Path.GetTempPath(), $"streaming-{overlay}-{Guid.NewGuid():N}.json");
        try
        {
            var validation = Validate(kustomize.StandardOutput, json);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var objects = doc.RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
            return new RenderedOverlay(overlay, kustomize.StandardOutput, validation, objects);
        }
        finally
        {
            File.Delete(json);
        }
    }
}

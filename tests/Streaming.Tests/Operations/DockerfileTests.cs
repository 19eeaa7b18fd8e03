using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Streaming.Tests.Operations;

/// <summary>A Dockerfile read the way the builder reads it: continuation lines joined, comments dropped, stages split.</summary>
public sealed partial class Dockerfile
{
    private Dockerfile(string path, IReadOnlyList<Stage> stages)
    {
        Path = path;
        Stages = stages;
    }

    public sealed record Instruction(string Keyword, string Arguments);

    public sealed record Stage(string Image, string? Name, IReadOnlyList<Instruction> Instructions)
    {
        public IEnumerable<string> Arguments(string keyword) =>
            Instructions.Where(i => i.Keyword == keyword).Select(i => i.Arguments);
    }

    public string Path { get; }

    public IReadOnlyList<Stage> Stages { get; }

    public Stage Final => Stages[^1];

    /// <summary>The last USER of the final stage (what the container runs as).</summary>
    public string? User => Final.Arguments("USER").LastOrDefault();

    /// <summary>The dll of an exec-form <c>ENTRYPOINT ["dotnet", "X.dll"]</c>, or null for any other form.</summary>
    public string? EntrypointDll
    {
        get
        {
            string? entry = Final.Arguments("ENTRYPOINT").LastOrDefault();
            if (entry is null || !entry.StartsWith('['))
            {
                return null;
            }

            var parts = JsonSerializer.Deserialize<string[]>(entry)!;
            return parts is ["dotnet", var dll] ? dll : null;
        }
    }

    public IEnumerable<string> RunCommands => Stages.SelectMany(s => s.Arguments("RUN"));

    public static Dockerfile Load(string path)
    {
        Assert.True(File.Exists(path), $"{path} does not exist");
        var logical = new List<string>();
        string pending = "";
        foreach (var raw in File.ReadAllLines(path))
        {
            string line = raw.Trim();
            if (line.StartsWith('#') || (line.Length == 0 && pending.Length == 0))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }

            logical.Add(pending + line);
            pending = "";
        }

        var stages = new List<Stage>();
        List<Instruction>? current = null;
        foreach (var line in logical.Where(l => l.Length > 0))
        {
            var match = InstructionPattern().Match(line);
            Assert.True(match.Success, $"{path}: cannot read '{line}'");
            string keyword = match.Groups[1].Value.ToUpperInvariant();
            string args = match.Groups[2].Value.Trim();
            if (keyword == "FROM")
            {
                var from = args.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
                current = [];
                stages.Add(new Stage(from[0], from.Length == 3 && from[1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? from[2] : null, current));
            }
            else
            {
                Assert.True(current is not null, $"{path}: {keyword} before FROM");
                current.Add(new Instruction(keyword, args));
            }
        }

        return new Dockerfile(path, stages);
    }

    [GeneratedRegex(@"^([A-Za-z]+)\s+(.*)$")]
    private static partial Regex InstructionPattern();
}

/// <summary>
/// The images are simple and right without running Docker: Ubuntu 24.04 bases (GLIBCXX_3.4.32, no patching),
/// the TorchDevice switch, a non-root user, and entry points that are the projects' own assemblies.
/// </summary>
[Trait("Kind", "Operations")]
public sealed class DockerfileTests
{
    private const string Sdk = "mcr.microsoft.com/dotnet/sdk:10.0-noble";
    private const string AspNet = "mcr.microsoft.com/dotnet/aspnet:10.0-noble";

    public static TheoryData<string> Dockerfiles() =>
        new(Directory.GetFiles(Repository.PathOf("deploy", "docker"), "*.Dockerfile").Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal)!);

    [Fact]
    public void EveryService_HasACpuImage_AndTheTorchServicesAGpuImage()
    {
        var names = Directory.GetFiles(Repository.PathOf("deploy", "docker"), "*.Dockerfile").Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["adapter-gpu.Dockerfile", "adapter.Dockerfile", "ingest.Dockerfile", "metatrainer-gpu.Dockerfile", "metatrainer.Dockerfile"], names);
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Dockerfile_BuildsOnNobleWithTheRightTorchDevice_RunsNonRootAndStartsItsProject(string file)
    {
        var dockerfile = Dockerfile.Load(Repository.PathOf("deploy", "docker", file));
        bool gpu = file.EndsWith("-gpu.Dockerfile", StringComparison.Ordinal);

        // Multi-stage: the SDK builds, the final stage has only the runtime and the published output.
        Assert.True(dockerfile.Stages.Count >= 2, "multi-stage build expected");
        var build = Assert.Single(dockerfile.Stages, s => s.Image.StartsWith("mcr.microsoft.com/dotnet/sdk:", StringComparison.Ordinal));
        Assert.Equal(Sdk, build.Image);
        Assert.NotNull(build.Name);
        Assert.Contains(dockerfile.Final.Instructions, i => i.Keyword == "COPY" && i.Arguments.StartsWith($"--from={build.Name} ", StringComparison.Ordinal));
        if (gpu)
        {
            // NVIDIA's CUDA image of the same Ubuntu, with the ASP.NET Core runtime copied from Microsoft's noble image.
            Assert.Matches(@"^nvidia/cuda:12\.8(\.\d+)?-(base|runtime|cudnn-runtime)-ubuntu24\.04$", dockerfile.Final.Image);
            var aspnet = Assert.Single(dockerfile.Stages, s => s.Image == AspNet);
            Assert.Contains(dockerfile.Final.Instructions, i => i.Keyword == "COPY" && i.Arguments == $"--from={aspnet.Name} /usr/share/dotnet /usr/share/dotnet");
        }
        else
        {
            Assert.Equal(AspNet, dockerfile.Final.Image);
        }

        // The project that is published, with the device switch and no GLIBCXX patch, restored the same way.
        var publish = Assert.Single(dockerfile.RunCommands, r => r.StartsWith("dotnet publish ", StringComparison.Ordinal));
        var restore = Assert.Single(dockerfile.RunCommands, r => r.StartsWith("dotnet restore ", StringComparison.Ordinal));
        string device = gpu ? "cuda" : "cpu";
        Assert.Contains($"-p:TorchDevice={device}", publish, StringComparison.Ordinal);
        Assert.Contains($"-p:TorchDevice={device}", restore, StringComparison.Ordinal);
        Assert.Contains("-p:PatchLibTorchSharpGlibcxx=false", publish, StringComparison.Ordinal);
        string project = publish.Split(' ')[2];
        Assert.Equal(project, restore.Split(' ')[2]);
        Assert.True(File.Exists(Repository.PathOf(project.Split('/'))), $"{file}: {project} does not exist");

        // ENTRYPOINT runs that project's assembly; the service name in the file name is the project's.
        Assert.Equal(AssemblyName(project) + ".dll", dockerfile.EntrypointDll);
        Assert.Equal(file.Replace("-gpu", "", StringComparison.Ordinal).Replace(".Dockerfile", "", StringComparison.Ordinal),
            AssemblyName(project).Replace("Streaming.", "", StringComparison.Ordinal).ToLowerInvariant());

        // Non-root: the "app" user of Microsoft's images, by number so the kubelet can verify runAsNonRoot.
        Assert.Equal("1654", dockerfile.User);

        // Everything the build copies exists, and every project the published one references is copied.
        foreach (var copy in build.Arguments("COPY"))
        {
            foreach (var source in copy.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1])
            {
                Assert.True(File.Exists(Repository.PathOf(source.TrimEnd('/').Split('/'))) || Directory.Exists(Repository.PathOf(source.TrimEnd('/').Split('/'))),
                    $"{file}: COPY {source}: no such file in the repository");
            }
        }

        foreach (var reference in ProjectClosure(project))
        {
            string folder = System.IO.Path.GetDirectoryName(reference)!.Replace('\\', '/') + "/";
            Assert.Contains(build.Arguments("COPY"), c => c.StartsWith(folder + " ", StringComparison.Ordinal));
            Assert.Contains(build.Arguments("COPY"), c => c.StartsWith(reference + " ", StringComparison.Ordinal));
        }
    }

    private static string AssemblyName(string project)
    {
        var xml = XDocument.Load(Repository.PathOf(project.Split('/')));
        return xml.Descendants("AssemblyName").Select(e => e.Value).LastOrDefault() ?? System.IO.Path.GetFileNameWithoutExtension(project);
    }

    /// <summary>The project and every project it references, transitively, as repository-relative paths.</summary>
    private static HashSet<string> ProjectClosure(string project)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var queue = new Queue<string>([project]);
        while (queue.TryDequeue(out var current))
        {
            if (!seen.Add(current))
            {
                continue;
            }

            var xml = XDocument.Load(Repository.PathOf(current.Split('/')));
            foreach (var include in xml.Descendants("ProjectReference").Select(e => (string)e.Attribute("Include")!))
            {
                string full = System.IO.Path.GetFullPath(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Repository.PathOf(current.Split('/')))!, include));
                queue.Enqueue(System.IO.Path.GetRelativePath(Repository.Root, full).Replace('\\', '/'));
            }
        }

        return seen;
    }
}

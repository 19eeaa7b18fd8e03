using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Streaming.Shared.Messaging;

namespace Streaming.Tests.Operations;

/// <summary>
/// The manifests configure what the services really read: every variable names an option of a section the
/// service binds, every required option is set, the values pass the service's own start-up validation, and
/// the pieces that must agree (KEDA triggers, topics, probes, shutdown, GPUs, images) do.
/// </summary>
[Trait("Kind", "Operations")]
public sealed class ManifestConfigurationTests
{
    /// <summary>Variables for the runtime rather than the options classes, each with the reason it is set.</summary>
    private static readonly Dictionary<string, string> RuntimeVariables = new(StringComparer.Ordinal)
    {
        ["ASPNETCORE_HTTP_PORTS"] = "Kestrel's port: the probes' and Prometheus' target",
        ["DOTNET_shutdownTimeoutSeconds"] = "the host's shutdown timeout, kept under terminationGracePeriodSeconds",
        ["OMP_NUM_THREADS"] = "libtorch's thread pool, sized to the CPU limit",
        ["SSL_CERT_DIR"] = ".NET's trusted CAs: the system's plus Redis's, for the registry's rediss:// connection",
    };

    /// <summary>Which topic's lag scales which service, by the KafkaOptions property naming it.</summary>
    private static readonly Dictionary<string, string> ConsumedTopic = new(StringComparer.Ordinal)
    {
        ["ingest"] = nameof(KafkaOptions.InteractionsTopic),
        ["adapter"] = nameof(KafkaOptions.AdaptRequestsTopic),
    };

    public static TheoryData<string, string> OverlaysAndServices()
    {
        var data = new TheoryData<string, string>();
        foreach (var overlay in RenderedOverlay.Overlays)
        {
            foreach (var service in Workload.ServiceAssemblies.Keys)
            {
                data.Add(overlay, service);
            }
        }

        return data;
    }

    public static TheoryData<string> Overlays() => new(RenderedOverlay.Overlays);

    [Theory]
    [MemberData(nameof(OverlaysAndServices))]
    public void Environment_NamesOnlyOptionsTheServiceBinds_SetsTheRequiredOnes_AndPassesItsValidation(string overlay, string service)
    {
        var workload = Assert.Single(Workload.Services(RenderedOverlay.Get(overlay)), w => w.Name == service);
        var assembly = ServiceOptions.ServiceAssembly(Workload.ServiceAssemblies[service]);
        var (bound, failures) = ServiceOptions.Bind(assembly, workload.Environment);
        var problems = new List<string>(failures.Select(f => "invalid value: " + f));

        // Every options class the service declares is bound: an unbound one would be configuration nobody reads.
        foreach (var declared in ServiceOptions.Declared(assembly).Where(d => !bound.Any(b => b.Type == d.Type)))
        {
            problems.Add($"{declared.Type.Name} (section {declared.Section}) is declared in {assembly.GetName().Name} but not bound");
        }

        foreach (var (name, _) in workload.Environment)
        {
            if (RuntimeVariables.ContainsKey(name))
            {
                continue;
            }

            var parts = name.Split("__");
            var section = bound.FirstOrDefault(b => string.Equals(b.Section, parts[0], StringComparison.OrdinalIgnoreCase));
            if (parts.Length < 2 || section is null)
            {
                problems.Add($"{name}: {service} binds no section '{parts[0]}' (it reads {string.Join(", ", bound.Select(b => b.Section))})");
                continue;
            }

            var property = section.Property(parts[1]);
            if (property is null)
            {
                problems.Add($"{name}: {section.Type.Name} has no settable property '{parts[1]}'");
            }
            else if (parts.Length > 2 && !IsDictionary(property.PropertyType))
            {
                problems.Add($"{name}: {section.Type.Name}.{property.Name} is not a dictionary, so '{string.Join("__", parts[2..])}' means nothing");
            }
        }

        foreach (var options in bound)
        {
            foreach (var required in options.RequiredWithoutDefault())
            {
                if (string.IsNullOrEmpty(workload.Env($"{options.Section}__{required.Name}")))
                {
                    problems.Add($"{options.Section}__{required.Name} is required by {options.Type.Name} and not set");
                }
            }
        }

        Assert.True(bound.Count > 0, $"{service} binds no options at all");
        Assert.True(problems.Count == 0, $"{overlay}/{workload.Label}:\n  " + string.Join("\n  ", problems));
    }

    [Fact]
    public void Environment_Check_RejectsUnknownKeysAndMissingRequiredOnes()
    {
        // The check above must be able to fail: Ingest's real bindings, fed a broken environment.
        var assembly = ServiceOptions.ServiceAssembly("Streaming.Ingest");
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["Kafka__BootstrapServers"] = "kafka:9092",
            ["Ingest__Catalogue"] = "synthetic",
            ["Ingest__MaxBatchSize"] = "0",
        };
        var (bound, failures) = ServiceOptions.Bind(assembly, env);

        Assert.Equal(["Ingest", "Kafka", "Redis", "Sessions"], bound.Select(b => b.Section).Order(StringComparer.Ordinal));
        Assert.Contains(failures, f => f.Contains("MaxBatchSize", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Configuration", StringComparison.Ordinal));   // Redis__Configuration missing
        var redis = bound.Single(b => b.Section == "Redis");
        Assert.Equal(["Configuration"], redis.RequiredWithoutDefault().Select(p => p.Name));
        Assert.Null(bound.Single(b => b.Section == "Ingest").Property("Catalog"));
        Assert.True(IsDictionary(bound.Single(b => b.Section == "Kafka").Property("settings")!.PropertyType));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Services_HaveProbesResourcesDisruptionBudgetsAndOutlastTheirShutdown(string overlay)
    {
        var rendered = RenderedOverlay.Get(overlay);
        var problems = new List<string>();
        foreach (var w in Workload.All(rendered))
        {
            foreach (var kind in new[] { "requests", "limits" })
            {
                foreach (var resource in new[] { "cpu", "memory" })
                {
                    if (!(w.Container.TryGetProperty("resources", out var r) && r.TryGetProperty(kind, out var k) && k.TryGetProperty(resource, out _)))
                    {
                        problems.Add($"{w.Label}: no {resource} {kind}");
                    }
                }
            }

            if (!Workload.ServiceAssemblies.ContainsKey(w.Name))
            {
                continue;
            }

            // The host's shutdown timeout as the host itself reads it (a DOTNET_ variable becomes host configuration).
            var hostConfig = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            if (w.Env("DOTNET_shutdownTimeoutSeconds") is { } seconds)
            {
                hostConfig["shutdownTimeoutSeconds"] = seconds;
            }

            var shutdown = ShutdownTimeout(hostConfig);
            int grace = w.PodSpec.TryGetProperty("terminationGracePeriodSeconds", out var g) ? g.GetInt32() : 30;
            if (grace <= shutdown.TotalSeconds + 5)
            {
                problems.Add($"{w.Label}: terminationGracePeriodSeconds {grace} does not outlast the host's shutdown timeout {shutdown.TotalSeconds} s (+5 s)");
            }

            string port = w.Env("ASPNETCORE_HTTP_PORTS") ?? "";
            var http = w.Container.GetProperty("ports").EnumerateArray().SingleOrDefault(p => p.GetProperty("name").GetString() == "http");
            if (http.ValueKind != JsonValueKind.Object || http.GetProperty("containerPort").GetInt32().ToString(CultureInfo.InvariantCulture) != port)
            {
                problems.Add($"{w.Label}: the container port named http is not ASPNETCORE_HTTP_PORTS ({port})");
            }

            if (w.Env("OMP_NUM_THREADS") is { } threads &&
                w.Container.GetProperty("resources").GetProperty("limits").GetProperty("cpu").GetString() != threads)
            {
                problems.Add($"{w.Label}: OMP_NUM_THREADS {threads} is not the CPU limit");
            }

            if (w.Kind != "Deployment")
            {
                continue;
            }

            foreach (var (probe, path) in new[] { ("readinessProbe", "/health"), ("livenessProbe", "/alive"), ("startupProbe", "/alive") })
            {
                if (!w.Container.TryGetProperty(probe, out var p) || p.GetProperty("httpGet").GetProperty("path").GetString() != path ||
                    p.GetProperty("httpGet").GetProperty("port").GetString() != "http")
                {
                    problems.Add($"{w.Label}: {probe} is not GET {path} on port http");
                }
            }

            var labels = rendered.Named("Deployment", w.Name).GetProperty("spec").GetProperty("template").GetProperty("metadata").GetProperty("labels");
            bool budgeted = rendered.OfKind("PodDisruptionBudget").Any(pdb =>
                pdb.GetProperty("spec").GetProperty("selector").GetProperty("matchLabels").EnumerateObject()
                    .All(l => labels.TryGetProperty(l.Name, out var v) && v.GetString() == l.Value.GetString()));
            if (!budgeted)
            {
                problems.Add($"{w.Label}: no PodDisruptionBudget selects its pods");
            }
        }

        Assert.True(problems.Count == 0, $"{overlay}:\n  " + string.Join("\n  ", problems));
    }

    [Fact]
    public void ShutdownTimeout_ComesFromTheHostConfigurationKeyTheManifestsSet()
    {
        // What DOTNET_shutdownTimeoutSeconds=45 becomes once the environment provider strips the prefix.
        Assert.Equal(TimeSpan.FromSeconds(45), ShutdownTimeout(new Dictionary<string, string?> { ["shutdownTimeoutSeconds"] = "45" }));
        Assert.Equal(TimeSpan.FromSeconds(30), ShutdownTimeout(new Dictionary<string, string?>()));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void ScaledObjects_ScaleOnTheGroupsAndTopicsTheServicesUse_WithinTheirPartitions(string overlay)
    {
        var rendered = RenderedOverlay.Get(overlay);
        var scaled = rendered.OfKind("ScaledObject").ToList();
        Assert.Equal(["adapter", "ingest"], scaled.Select(s => s.GetProperty("spec").GetProperty("scaleTargetRef").GetProperty("name").GetString()).Order(StringComparer.Ordinal));
        foreach (var s in scaled)
        {
            string target = s.GetProperty("spec").GetProperty("scaleTargetRef").GetProperty("name").GetString()!;
            var workload = Workload.Services(rendered).Single(w => w.Name == target && w.Kind == "Deployment");
            var trigger = Assert.Single(s.GetProperty("spec").GetProperty("triggers").EnumerateArray());
            Assert.Equal("kafka", trigger.GetProperty("type").GetString());
            var metadata = trigger.GetProperty("metadata");
            string section = Workload.ServiceAssemblies[target].Split('.')[1];
            string topic = TopicName(workload, ConsumedTopic[target]);

            Assert.Equal(workload.Env("Kafka__BootstrapServers"), metadata.GetProperty("bootstrapServers").GetString());
            Assert.Equal(workload.Env($"{section}__GroupId"), metadata.GetProperty("consumerGroup").GetString());
            Assert.Equal(topic, metadata.GetProperty("topic").GetString());
            int partitions = Topics(rendered)[topic].Partitions;
            int max = s.GetProperty("spec").GetProperty("maxReplicaCount").GetInt32();
            Assert.True(max <= partitions, $"{overlay}: {target} scales to {max} consumers on {topic}, which has {partitions} partitions");
            Assert.True(s.GetProperty("spec").GetProperty("minReplicaCount").GetInt32() >= 1, "scaling to zero would leave new users without adaptation");
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void KafkaTopics_ExistForEveryTopicTheServicesUse(string overlay)
    {
        var rendered = RenderedOverlay.Get(overlay);
        var topics = Topics(rendered);
        string cluster = Assert.Single(rendered.OfKind("Kafka")).GetProperty("metadata").GetProperty("name").GetString()!;
        var used = Workload.Services(rendered)
            .Where(w => w.Env("Kafka__BootstrapServers") is not null)
            .SelectMany(w => typeof(KafkaOptions).GetProperties().Where(p => p.Name.EndsWith("Topic", StringComparison.Ordinal)).Select(p => TopicName(w, p.Name)))
            .Distinct()
            .ToList();

        Assert.Equal(5, used.Count);
        foreach (var topic in used)
        {
            Assert.True(topics.TryGetValue(topic, out var t), $"{overlay}: no KafkaTopic for '{topic}'");
            Assert.Equal(cluster, t.Cluster);
        }

        var bootstrap = Workload.Services(rendered).Select(w => w.Env("Kafka__BootstrapServers")).Where(b => b is not null).Distinct().Single();
        Assert.StartsWith($"{cluster}-kafka-bootstrap.", bootstrap, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void GpuWork_RunsOnGpuNodesWithGpuImages_OnlyInTheGpuOverlay(string overlay)
    {
        var rendered = RenderedOverlay.Get(overlay);
        bool gpu = overlay == "gpu";
        foreach (var w in Workload.Services(rendered))
        {
            bool shouldUseGpu = gpu && w.Name is ("adapter" or "metatrainer");
            string section = Workload.ServiceAssemblies[w.Name].Split('.')[1];
            var limits = w.Container.GetProperty("resources").GetProperty("limits");
            bool hasGpu = limits.TryGetProperty("nvidia.com/gpu", out var count);
            string image = w.Container.GetProperty("image").GetString()!;

            Assert.Equal(shouldUseGpu, hasGpu);
            Assert.Equal(shouldUseGpu, ImageName(image).EndsWith("-gpu", StringComparison.Ordinal));
            if (w.Name != "ingest")
            {
                Assert.Equal(shouldUseGpu ? "cuda" : "cpu", w.Env($"{section}__Device"));
            }

            if (!shouldUseGpu)
            {
                continue;
            }

            Assert.Equal(1, count.GetInt32());
            Assert.Equal("true", w.PodSpec.GetProperty("nodeSelector").GetProperty("nvidia.com/gpu.present").GetString());
            Assert.Contains(w.PodSpec.GetProperty("tolerations").EnumerateArray(), t =>
                t.GetProperty("key").GetString() == "nvidia.com/gpu" && t.GetProperty("effect").GetString() == "NoSchedule");
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Images_AreBuiltByTheDockerfileOfTheirService_AndRunAsItsUser(string overlay)
    {
        foreach (var w in Workload.Services(RenderedOverlay.Get(overlay)))
        {
            string image = ImageName(w.Container.GetProperty("image").GetString()!);
            var dockerfile = Dockerfile.Load(Repository.PathOf("deploy", "docker", image + ".Dockerfile"));
            Assert.Equal(Workload.ServiceAssemblies[w.Name] + ".dll", dockerfile.EntrypointDll);
            Assert.Equal(dockerfile.User, w.PodSpec.GetProperty("securityContext").GetProperty("runAsUser").GetInt32().ToString(CultureInfo.InvariantCulture));
            Assert.True(w.PodSpec.GetProperty("securityContext").GetProperty("runAsNonRoot").GetBoolean());
        }
    }

    private static bool IsDictionary(Type type) =>
        type.IsGenericType && type.GetInterfaces().Append(type).Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));

    private static TimeSpan ShutdownTimeout(IDictionary<string, string?> hostConfiguration)
    {
        var settings = new HostApplicationBuilderSettings { Configuration = new ConfigurationManager(), DisableDefaults = true };
        settings.Configuration.AddInMemoryCollection(hostConfiguration);
        var builder = Host.CreateApplicationBuilder(settings);
        using var host = builder.Build();
        return host.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout;
    }

    /// <summary>The topic a workload's configuration names (KafkaOptions' default when the manifests leave it).</summary>
    private static string TopicName(Workload workload, string property) =>
        workload.Env($"Kafka__{property}") ?? (string)typeof(KafkaOptions).GetProperty(property)!.GetValue(new KafkaOptions())!;

    private static Dictionary<string, (int Partitions, string? Cluster)> Topics(RenderedOverlay rendered) =>
        rendered.OfKind("KafkaTopic").ToDictionary(
            t => t.GetProperty("spec").TryGetProperty("topicName", out var n) ? n.GetString()! : t.GetProperty("metadata").GetProperty("name").GetString()!,
            t => (t.GetProperty("spec").GetProperty("partitions").GetInt32(), t.GetProperty("metadata").GetProperty("labels").GetProperty("strimzi.io/cluster").GetString()),
            StringComparer.Ordinal);

    /// <summary><c>registry.example.com/streaming/adapter-gpu:0.1.0</c> -> <c>adapter-gpu</c>.</summary>
    private static string ImageName(string image)
    {
        string last = image[(image.LastIndexOf('/') + 1)..];
        return last.Split(':', '@')[0];
    }
}

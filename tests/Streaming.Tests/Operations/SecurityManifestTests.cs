using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Streaming.Shared.Messaging;

namespace Streaming.Tests.Operations;

/// <summary>
/// Security and memory policy as rendered: Kafka over SCRAM/TLS with a KafkaUser per service limited to its own
/// topics and group, Redis over TLS with ACL users, credentials only in Secrets, only the services admitted to
/// Kafka and Redis, dead letters kept no longer than their source, and Redis's maxmemory below its container limit.
/// </summary>
public sealed partial class SecurityManifestTests
{
    public static TheoryData<string> Overlays() => new(RenderedOverlay.Overlays);

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Kafka_IsScramOverTls_AndEachServiceUserMayTouchOnlyItsOwnTopicsAndGroup(string overlay)
    {
        var rendered = RenderedOverlay.Get(overlay);
        var listener = Assert.Single(Assert.Single(rendered.OfKind("Kafka")).GetProperty("spec").GetProperty("kafka").GetProperty("listeners").EnumerateArray());
        Assert.True(listener.GetProperty("tls").GetBoolean());
        Assert.Equal("scram-sha-512", listener.GetProperty("authentication").GetProperty("type").GetString());
        Assert.True(listener.TryGetProperty("networkPolicyPeers", out _), "no NetworkPolicy peers on the listener: any pod reaches the brokers");

        foreach (var workload in Workload.Services(rendered).Where(w => w.Env("Kafka__BootstrapServers") is not null))
        {
            Assert.Equal("sasl_ssl", workload.Env("Kafka__SecurityProtocol"));
            Assert.Equal(Workload.StrimziSecretValue, workload.Env("Kafka__SaslPassword"));
            string user = workload.Env("Kafka__SaslUsername")!;
            var acls = rendered.Named("KafkaUser", user).GetProperty("spec").GetProperty("authorization").GetProperty("acls").EnumerateArray()
                .Select(a => (Type: a.GetProperty("resource").GetProperty("type").GetString(), Name: a.GetProperty("resource").GetProperty("name").GetString()))
                .ToList();
            var topics = typeof(KafkaOptions).GetProperties().Where(p => p.Name.EndsWith("Topic", StringComparison.Ordinal))
                .Select(p => workload.Env($"Kafka__{p.Name}") ?? (string)p.GetValue(new KafkaOptions())!).ToHashSet();
            string section = Workload.ServiceAssemblies[workload.Name].Split('.')[1];
            Assert.All(acls.Where(a => a.Type == "topic"), a => Assert.Contains(a.Name!, topics));
            // Ingest has a second group: its reader of the served lists (online evaluation).
            string?[] groups = section == "Ingest" ? [workload.Env("Ingest__GroupId"), workload.Env("Ingest__ServedGroupId")] : [workload.Env($"{section}__GroupId")];
            Assert.Equal(groups, acls.Where(a => a.Type == "group").Select(a => a.Name));
            Assert.Contains("streaming.io/kafka-client", PodLabels(rendered, workload).Keys);
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Redis_IsTlsWithAclUsersAndANetworkPolicy_AndItsMaxmemoryIsBelowItsLimit(string overlay)
    {
        var rendered = RenderedOverlay.Get(overlay);
        var redis = Assert.Single(Workload.All(rendered), w => w.Name == "redis");
        string command = string.Join(" ", redis.Container.GetProperty("args").EnumerateArray().Select(a => a.GetString()));
        Assert.Contains("--port 0 --tls-port 6379", command, StringComparison.Ordinal);
        Assert.Contains("--user \"default off\"", command, StringComparison.Ordinal);
        Assert.Contains("--maxmemory-policy noeviction", command, StringComparison.Ordinal);
        long maxmemory = Bytes(redis.Env("MAXMEMORY")!);
        long limit = Bytes(redis.Container.GetProperty("resources").GetProperty("limits").GetProperty("memory").GetString()!);
        Assert.True(maxmemory <= limit * 8 / 10, $"{overlay}: maxmemory {maxmemory} is not below 80% of the container limit {limit}");

        var policy = Assert.Single(rendered.OfKind("NetworkPolicy"), p => p.GetProperty("spec").GetProperty("podSelector").GetProperty("matchLabels").GetProperty("app.kubernetes.io/name").GetString() == "redis");
        var admitted = policy.GetProperty("spec").GetProperty("ingress").EnumerateArray()
            .SelectMany(r => r.GetProperty("from").EnumerateArray()).Select(f => f.GetProperty("podSelector").GetProperty("matchLabels")).ToList();
        var services = Workload.Services(rendered).ToList();
        Assert.All(services, w => Assert.Contains(admitted, labels => labels.EnumerateObject().All(l => PodLabels(rendered, w).GetValueOrDefault(l.Name) == l.Value.GetString())));
        Assert.All(services, w =>
        {
            Assert.Equal("true", w.Env("Redis__Tls"));
            Assert.False(string.IsNullOrEmpty(w.Env("Redis__User")), $"{w.Label}: no Redis ACL user");
            Assert.False(string.IsNullOrEmpty(w.Env("Redis__Password")), $"{w.Label}: no Redis password");
        });
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Credentials_AreOnlyInSecrets_IncludingTheRegistryUrl(string overlay)
    {
        var rendered = RenderedOverlay.Get(overlay);
        foreach (var map in rendered.OfKind("ConfigMap").Where(m => m.TryGetProperty("data", out _)))
        {
            foreach (var entry in map.GetProperty("data").EnumerateObject())
            {
                Assert.False(Regex.IsMatch(entry.Name, "Password|Registry", RegexOptions.IgnoreCase), $"{overlay}: ConfigMap {entry.Name} holds a credential");
                Assert.False(UrlWithCredentials().IsMatch(entry.Value.GetString() ?? ""), $"{overlay}: ConfigMap {entry.Name} holds a URL with credentials");
            }
        }

        foreach (var workload in Workload.Services(rendered))
        {
            foreach (var variable in workload.Container.TryGetProperty("env", out var env) ? env.EnumerateArray() : [])
            {
                string name = variable.GetProperty("name").GetString()!;
                if (Regex.IsMatch(name, "Password|__Registry$", RegexOptions.IgnoreCase))
                {
                    Assert.True(variable.GetProperty("valueFrom").TryGetProperty("secretKeyRef", out _), $"{workload.Label}: {name} is not from a Secret");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void DeadLetterTopics_KeepPayloadsNoLongerThanTheirSource(string overlay)
    {
        var topics = RenderedOverlay.Get(overlay).OfKind("KafkaTopic").ToDictionary(
            t => t.GetProperty("spec").GetProperty("topicName").GetString()!,
            t => long.Parse(t.GetProperty("spec").GetProperty("config").GetProperty("retention.ms").ToString(), CultureInfo.InvariantCulture));
        var defaults = new KafkaOptions();
        Assert.True(topics[defaults.DeadLetterTopic] <= topics[defaults.InteractionsTopic], $"{defaults.DeadLetterTopic} outlives {defaults.InteractionsTopic}");
        Assert.True(topics[defaults.AdaptRequestsDeadLetterTopic] <= topics[defaults.AdaptRequestsTopic], $"{defaults.AdaptRequestsDeadLetterTopic} outlives {defaults.AdaptRequestsTopic}");
    }

    private static Dictionary<string, string> PodLabels(RenderedOverlay rendered, Workload workload)
    {
        var spec = rendered.Named(workload.Kind, workload.Name).GetProperty("spec");
        var template = workload.Kind == "CronJob" ? spec.GetProperty("jobTemplate").GetProperty("spec").GetProperty("template") : spec.GetProperty("template");
        return template.GetProperty("metadata").GetProperty("labels").EnumerateObject().ToDictionary(l => l.Name, l => l.Value.GetString()!, StringComparer.Ordinal);
    }

    // 1536mb, 2Gi, 512Mi, ...: what redis-server and Kubernetes accept.
    private static long Bytes(string quantity)
    {
        var m = Quantity().Match(quantity);
        Assert.True(m.Success, $"cannot read the quantity '{quantity}'");
        long n = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return n * m.Groups[2].Value.ToLowerInvariant() switch
        {
            "" => 1,
            "k" or "kb" => 1000,
            "ki" => 1024,
            "m" => 1000 * 1000,
            "mb" or "mi" => 1024 * 1024,
            "g" => 1000 * 1000 * 1000,
            "gb" or "gi" => 1024L * 1024 * 1024,
            _ => throw new FormatException(quantity),
        };
    }

    [GeneratedRegex(@"^(\d+)([a-zA-Z]*)$")]
    private static partial Regex Quantity();

    [GeneratedRegex(@"://[^/\s:@]+:[^/\s@]+@")]
    private static partial Regex UrlWithCredentials();
}

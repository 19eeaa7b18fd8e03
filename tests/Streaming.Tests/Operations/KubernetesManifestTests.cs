namespace Streaming.Tests.Operations;

/// <summary>Every overlay renders with <c>kubectl kustomize</c> and validates offline against the API schemas.</summary>
[Trait("Kind", "Operations")]
public sealed class KubernetesManifestTests
{
    public static TheoryData<string> Overlays() => new(RenderedOverlay.Overlays);

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Overlay_RendersAndValidatesAgainstTheKubernetesAndCrdSchemas(string overlay)
    {
        var rendered = RenderedOverlay.Get(overlay);

        Assert.True(rendered.Validation.ExitCode == 0, $"{overlay} does not validate:\n{rendered.Validation.Output}");
        Assert.Contains($"validated {rendered.Objects.Count} objects", rendered.Validation.StandardOutput, StringComparison.Ordinal);
        var kinds = rendered.Objects.GroupBy(o => o.GetProperty("kind").GetString()!).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        foreach (var (kind, count) in new Dictionary<string, int>
        {
            ["Deployment"] = 2, ["CronJob"] = 1, ["StatefulSet"] = 1, ["Service"] = 3, ["PodDisruptionBudget"] = 2, ["ScaledObject"] = 2,
            ["Kafka"] = 1, ["KafkaNodePool"] = 1, ["KafkaTopic"] = 5, ["ServiceMonitor"] = 2, ["PodMonitor"] = 1, ["PrometheusRule"] = 1, ["Secret"] = 3,
            ["KafkaUser"] = 2, ["TriggerAuthentication"] = 2, ["NetworkPolicy"] = 1,
        })
        {
            Assert.True(kinds.GetValueOrDefault(kind) == count, $"{overlay}: {kinds.GetValueOrDefault(kind)} {kind} objects, expected {count}");
        }

        Assert.All(rendered.Objects, o => Assert.Equal("streaming", o.GetProperty("metadata").TryGetProperty("namespace", out var ns) ? ns.GetString() : o.GetProperty("metadata").GetProperty("name").GetString()));
    }

    [Fact]
    public void Validator_RejectsUnknownFieldsWrongTypesMissingRequiredFieldsAndUnknownKinds()
    {
        // Each document holds one mistake; the valid one must pass, so a failure is the mistake's and no other's.
        const string manifests = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: valid}
            spec:
              replicas: 2
              selector: {matchLabels: {app: a}}
              template:
                metadata: {labels: {app: a}}
                spec:
                  containers: [{name: c, image: i, resources: {limits: {cpu: "1", nvidia.com/gpu: 1}}}]
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: misspelt}
            spec:
              replica: 2
              selector: {matchLabels: {app: a}}
              template:
                metadata: {labels: {app: a}}
                spec:
                  containers: [{name: c, image: i, livenesProbe: {httpGet: {path: /alive, port: 8080}}}]
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: wrong-type}
            spec:
              replicas: two
              selector: {matchLabels: {app: a}}
              template:
                metadata: {labels: {app: a}}
                spec:
                  containers: [{image: i}]
            ---
            apiVersion: keda.sh/v1alpha1
            kind: ScaledObject
            metadata: {name: no-target}
            spec:
              scaleTarget: {name: ingest}
              triggers: [{type: kafka, metadata: {topic: interactions}}]
            ---
            apiVersion: monitoring.coreos.com/v1
            kind: ServiceMonitor
            metadata: {name: typo}
            spec:
              selector: {matchLabels: {app: a}}
              endpoints: [{port: http, intervall: 15s}]
            ---
            apiVersion: kafka.strimzi.io/v1beta2
            kind: KafkaTopic
            metadata: {name: topic, labels: {strimzi.io/cluster: streaming}}
            spec: {partitions: "3", retention: 1}
            ---
            apiVersion: example.com/v1
            kind: Widget
            metadata: {name: unknown}
            """;

        var result = RenderedOverlay.Validate(manifests);

        Assert.Equal(1, result.ExitCode);
        string output = result.StandardOutput;
        Assert.DoesNotContain("Deployment/valid:", output, StringComparison.Ordinal);
        Assert.Contains("Deployment/misspelt: spec.replica: unknown field", output, StringComparison.Ordinal);
        Assert.Contains("Deployment/misspelt: spec.template.spec.containers.0.livenesProbe: unknown field", output, StringComparison.Ordinal);
        Assert.Contains("Deployment/wrong-type: spec.replicas: must be integer", output, StringComparison.Ordinal);
        Assert.Contains("Deployment/wrong-type: spec.template.spec.containers.0: must have required property name", output, StringComparison.Ordinal);
        Assert.Contains("ScaledObject/no-target: spec: must have required property scaleTargetRef", output, StringComparison.Ordinal);
        Assert.Contains("ScaledObject/no-target: spec.scaleTarget: unknown field", output, StringComparison.Ordinal);
        Assert.Contains("ServiceMonitor/typo: spec.endpoints.0.intervall: unknown field", output, StringComparison.Ordinal);
        Assert.Contains("KafkaTopic/topic: spec.partitions: must be integer", output, StringComparison.Ordinal);
        Assert.Contains("KafkaTopic/topic: spec: must NOT have additional properties 'retention' (unknown field)", output, StringComparison.Ordinal);
        Assert.Contains("Widget/unknown: unknown apiVersion example.com/v1", output, StringComparison.Ordinal);
    }
}

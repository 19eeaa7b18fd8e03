using System.Text;
using System.Text.Json;

namespace Streaming.Tests.Operations;

/// <summary>A container of a rendered Deployment, StatefulSet or CronJob, with its environment resolved.</summary>
public sealed record Workload(string Kind, string Name, JsonElement PodSpec, JsonElement Container, IReadOnlyDictionary<string, string> Environment)
{
    /// <summary>The .NET services and the assembly each workload runs; anything else (redis) is not ours.</summary>
    public static readonly IReadOnlyDictionary<string, string> ServiceAssemblies = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["ingest"] = "Streaming.Ingest",
        ["adapter"] = "Streaming.Adapter",
        ["metatrainer"] = "Streaming.MetaTrainer",
    };

    /// <summary>Value of a field reference (the pod's name, say) that only exists at run time.</summary>
    public const string RuntimeValue = "value-known-at-run-time";

    /// <summary>Value of a key of a Secret that the Strimzi User Operator creates for a KafkaUser (its password).</summary>
    public const string StrimziSecretValue = "value-from-a-strimzi-user-secret";

    public string Label => $"{Kind}/{Name}/{Container.GetProperty("name").GetString()}";

    public string? Env(string name) =>
        Environment.FirstOrDefault(e => string.Equals(e.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    public static IEnumerable<Workload> All(RenderedOverlay overlay)
    {
        foreach (var o in overlay.Objects)
        {
            string kind = o.GetProperty("kind").GetString()!;
            JsonElement? pod = kind switch
            {
                "Deployment" or "StatefulSet" => o.GetProperty("spec").GetProperty("template").GetProperty("spec"),
                "CronJob" => o.GetProperty("spec").GetProperty("jobTemplate").GetProperty("spec").GetProperty("template").GetProperty("spec"),
                _ => null,
            };
            if (pod is not { } spec)
            {
                continue;
            }

            foreach (var container in spec.GetProperty("containers").EnumerateArray())
            {
                yield return new Workload(kind, o.GetProperty("metadata").GetProperty("name").GetString()!, spec, container, Resolve(overlay, container));
            }
        }
    }

    public static IEnumerable<Workload> Services(RenderedOverlay overlay) => All(overlay).Where(w => ServiceAssemblies.ContainsKey(w.Name));

    private static Dictionary<string, string> Resolve(RenderedOverlay overlay, JsonElement container)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        if (container.TryGetProperty("envFrom", out var envFrom))
        {
            foreach (var source in envFrom.EnumerateArray())
            {
                foreach (var (key, value) in Data(overlay, source))
                {
                    env[key] = value;
                }
            }
        }

        if (container.TryGetProperty("env", out var vars))
        {
            foreach (var v in vars.EnumerateArray())
            {
                string name = v.GetProperty("name").GetString()!;
                env[name] = v.TryGetProperty("value", out var value) ? value.GetString()! : FromReference(overlay, v.GetProperty("valueFrom"));
            }
        }

        return env;
    }

    private static IEnumerable<(string Key, string Value)> Data(RenderedOverlay overlay, JsonElement source)
    {
        bool secret = source.TryGetProperty("secretRef", out var reference);
        if (!secret)
        {
            reference = source.GetProperty("configMapRef");
        }

        var obj = overlay.Named(secret ? "Secret" : "ConfigMap", reference.GetProperty("name").GetString()!);
        string prefix = source.TryGetProperty("prefix", out var p) ? p.GetString()! : "";
        if (obj.TryGetProperty("data", out var data))
        {
            foreach (var entry in data.EnumerateObject())
            {
                yield return (prefix + entry.Name, secret ? Encoding.UTF8.GetString(Convert.FromBase64String(entry.Value.GetString()!)) : entry.Value.GetString()!);
            }
        }

        if (obj.TryGetProperty("stringData", out var stringData))
        {
            foreach (var entry in stringData.EnumerateObject())
            {
                yield return (prefix + entry.Name, entry.Value.GetString()!);
            }
        }
    }

    private static string FromReference(RenderedOverlay overlay, JsonElement valueFrom)
    {
        foreach (var (kind, property) in new[] { ("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef") })
        {
            if (valueFrom.TryGetProperty(property, out var r))
            {
                string name = r.GetProperty("name").GetString()!;
                if (kind == "Secret" && !overlay.OfKind("Secret").Any(o => o.GetProperty("metadata").GetProperty("name").GetString() == name)
                    && overlay.OfKind("KafkaUser").Any(o => o.GetProperty("metadata").GetProperty("name").GetString() == name))
                {
                    return StrimziSecretValue;   // Strimzi's User Operator writes this Secret for the KafkaUser of the same name
                }

                var value = overlay.Named(kind, name).GetProperty("data").GetProperty(r.GetProperty("key").GetString()!).GetString()!;
                return kind == "Secret" ? Encoding.UTF8.GetString(Convert.FromBase64String(value)) : value;
            }
        }

        return RuntimeValue;
    }
}

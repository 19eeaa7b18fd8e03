using System.Text.Json.Nodes;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace Streaming.Learning.Models;

/// <summary>
/// A trained meta-model: its meta-parameters (network and method, <see cref="MetaModule"/>), its feature
/// vocabularies and its manifest. The file format is <see cref="ModelFile"/>'s; the manifest names the network
/// and the method, so <see cref="Load(byte[], string, Device)"/> builds the right ones.
/// </summary>
public sealed class MetaModel : IDisposable
{
    private MetaModel(MetaModule module, FeatureSpace features, ModelManifest manifest)
    {
        Module = module;
        Features = features;
        Manifest = manifest;
    }

    /// <summary>The meta-parameters: network, inner rates, loss.</summary>
    public MetaModule Module { get; }

    /// <summary>The network (the same as <c>Module.Network</c>).</summary>
    public MetaNetwork Network => Module.Network;

    public FeatureSpace Features { get; }

    /// <summary>The manifest; a model in memory has an empty parameter list and checksum until it is written.</summary>
    public ModelManifest Manifest { get; }

    /// <summary>A model in memory (trained or fresh) with the manifest that describes it.</summary>
    public static MetaModel Unsaved(MetaModule module, FeatureSpace features, TrainingRecord training, PartitionMetrics? validation, DateTimeOffset createdAt, OnboardingItems? onboarding = null, RatingDecoder? ratingDecoder = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(features);
        return new MetaModel(module, features, new ModelManifest
        {
            Hyperparameters = module.Hyper,
            Features = JsonNode.Parse(features.ToJson())!,
            Training = training,
            Validation = validation,
            Onboarding = onboarding,
            RatingDecoder = ratingDecoder,
            Parameters = [],
            WeightsSha256 = "",
            CreatedAt = createdAt,
        });
    }

    /// <summary>The same model with another manifest (the weights are shared, not copied).</summary>
    public MetaModel WithManifest(Func<ModelManifest, ModelManifest> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        return new MetaModel(Module, Features, change(Manifest));
    }

    /// <summary>The model file's bytes (<see cref="ModelFile.Write"/>), with its parameter list and checksum filled in.</summary>
    public byte[] ToBytes() => ModelFile.Write(Manifest, Weights.Snapshot(Module)).Bytes;

    /// <summary>Writes the model file atomically.</summary>
    /// <returns>The manifest as written.</returns>
    public ModelManifest Save(string path)
    {
        var (bytes, written) = ModelFile.Write(Manifest, Weights.Snapshot(Module));
        ModelFile.WriteAtomically(path, bytes);
        return written;
    }

    /// <summary>An independent copy (new tensors) on the same device.</summary>
    public MetaModel Clone()
    {
        var module = new MetaModule(Module.Hyper, Features);
        module.to(Module.Device);
        Weights.Restore(module, Weights.Snapshot(Module), "clone");
        module.train(Module.training);
        return new MetaModel(module, Features, Manifest);
    }

    /// <summary>Reads and fully checks a model file, then builds its network and method on <paramref name="device"/>.</summary>
    /// <exception cref="InvalidDataException">Not a model file this build reads, corrupt, or not the network its manifest names.</exception>
    public static MetaModel Load(string path, Device device) => Load(File.ReadAllBytes(path), path, device);

    /// <summary>Reads a model from bytes (a registry blob); <paramref name="origin"/> names it in errors.</summary>
    /// <exception cref="InvalidDataException">Not a model file this build reads, corrupt, or not the network its manifest names.</exception>
    public static MetaModel Load(byte[] bytes, string origin, Device device)
    {
        var contents = ModelFile.Read(bytes, origin);
        var manifest = contents.Manifest;
        FeatureSpace features;
        MetaModule module;
        try
        {
            features = FeatureSpace.FromJson(manifest.Features.ToJsonString());
            module = new MetaModule(manifest.Hyperparameters, features);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or System.Text.Json.JsonException)
        {
            throw new InvalidDataException($"{origin}: {e.Message}", e);
        }

        Weights.Restore(module, contents.Parameters, origin, module.Network.ParametersAddedLater.Select(name => $"network.{name}").ToHashSet(StringComparer.Ordinal));
        module.to(device);
        module.eval();
        return new MetaModel(module, features, manifest);
    }

    /// <inheritdoc />
    public void Dispose() => Module.Dispose();
}

/// <summary>A module's parameters as stored values (<see cref="StoredParameter"/>), and back: checkpoints, clones and the model file.</summary>
public static class Weights
{
    /// <summary>Every parameter's name, shape and values, in registration order.</summary>
    public static IReadOnlyList<StoredParameter> Snapshot(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        return module.named_parameters().Select(p =>
        {
            using var cpu = p.parameter.detach().cpu().contiguous();
            return new StoredParameter(p.name, p.parameter.shape, cpu.data<float>().ToArray());
        }).ToArray();
    }

    /// <summary>Copies stored values into <paramref name="module"/>, checking that names and shapes match exactly.</summary>
    /// <param name="module">Receives the values.</param>
    /// <param name="stored">The values, in the module's registration order.</param>
    /// <param name="origin">Names the values in errors.</param>
    /// <param name="mayBeMissing">
    /// Full names of parameters that an older file lacks (<see cref="MetaNetwork.ParametersAddedLater"/>): such a
    /// parameter keeps its initial value. The rest must match one to one, in order.
    /// </param>
    /// <exception cref="InvalidDataException">The values do not fit the module.</exception>
    public static void Restore(nn.Module module, IReadOnlyList<StoredParameter> stored, string origin, IReadOnlySet<string>? mayBeMissing = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(stored);
        var parameters = module.named_parameters().ToArray();
        if (mayBeMissing is { Count: > 0 })
        {
            var present = stored.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
            parameters = [.. parameters.Where(p => present.Contains(p.name) || !mayBeMissing.Contains(p.name))];
        }

        if (parameters.Length != stored.Count)
        {
            throw new InvalidDataException($"{origin}: {stored.Count} parameters stored, the network has {parameters.Length} ({string.Join(", ", parameters.Select(p => p.name).Except(stored.Select(s => s.Name)).Take(5))} ...): the manifest's hyper-parameters do not match its weights");
        }

        using var noGrad = no_grad();
        for (int i = 0; i < parameters.Length; i++)
        {
            var (name, parameter) = parameters[i];
            var s = stored[i];
            if (s.Name != name)
            {
                throw new InvalidDataException($"{origin}: expected parameter '{name}', found '{s.Name}'");
            }

            if (!s.Shape.SequenceEqual(parameter.shape))
            {
                throw new InvalidDataException($"{origin}: parameter '{name}' has shape [{string.Join(",", s.Shape)}], the network needs [{string.Join(",", parameter.shape)}]");
            }

            parameter.copy_(tensor(s.Values).reshape(s.Shape).to(parameter.device));
        }
    }
}

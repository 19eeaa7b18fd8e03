using Streaming.Learning.Methods;
using Streaming.Learning.Models;
using Streaming.Shared.Models;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

[Collection(TorchCollection.Name)]
[Trait("Kind", "Unit")]
public sealed class ModelFileTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("streaming-model-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void SaveThenLoad_RoundTripsWeightsManifestAndVocabularies()
    {
        var data = LearningFixtures.Synthetic();
        using var trained = LearningFixtures.Train(data, LearningFixtures.QuickTraining(epochs: 1)).Model;
        string path = Path.Combine(directory, "m.model");
        var written = trained.Save(path);

        using var loaded = MetaModel.Load(path, CPU);

        Assert.Equal(written.WeightsSha256, loaded.Manifest.WeightsSha256);
        Assert.Equal(64, loaded.Manifest.WeightsSha256.Length);
        Assert.Equal(trained.Manifest.Hyperparameters, loaded.Manifest.Hyperparameters);
        Assert.Equal(trained.Manifest.Training, loaded.Manifest.Training);
        Assert.Equal(trained.Manifest.Validation, loaded.Manifest.Validation);
        Assert.Equal(trained.Features.ToJson(), loaded.Features.ToJson());
        Assert.Equal(trained.Manifest.RatingDecoder!.Thresholds, loaded.Manifest.RatingDecoder!.Thresholds);
        Assert.Equal(LearningFixtures.WeightBytes(trained), LearningFixtures.WeightBytes(loaded));
    }

    [Theory]
    [InlineData("[1.5, 2.5, 3.5]", "must hold 4 values")]
    [InlineData("[1.5, 3.5, 2.5, 4.5]", "must increase strictly")]
    public void Load_BadRatingDecoder_IsRefusedNamingTheField(string thresholds, string problem)
    {
        string path = SaveSmallModel();
        RewriteManifest(path, json => System.Text.RegularExpressions.Regex.Replace(json, "\"thresholds\": \\[[^\\]]*\\]", $"\"thresholds\": {thresholds}"));

        var error = Assert.Throws<InvalidDataException>(() => MetaModel.Load(path, CPU));
        Assert.Contains("ratingDecoder.thresholds", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_WeightsChangedByOneByte_IsRefusedWithChecksumMismatch()
    {
        string path = SaveSmallModel();
        var bytes = File.ReadAllBytes(path);
        bytes[^10] ^= 0x01;
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => MetaModel.Load(path, CPU));
        Assert.Contains("checksum mismatch", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_TruncatedFile_IsRefused()
    {
        string path = SaveSmallModel();
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        Assert.Throws<InvalidDataException>(() => MetaModel.Load(path, CPU));
    }

    [Fact]
    public void Load_NotAModelFile_IsRefusedNamingTheFile()
    {
        string path = Path.Combine(directory, "notes.txt");
        File.WriteAllText(path, "hello, this is not a model");

        var error = Assert.Throws<InvalidDataException>(() => MetaModel.Load(path, CPU));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("bad magic", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_NewerFormatVersion_IsRefused()
    {
        string path = SaveSmallModel();
        RewriteManifest(path, json => json.Replace("\"formatVersion\": 2", "\"formatVersion\": 99", StringComparison.Ordinal));

        var error = Assert.Throws<InvalidDataException>(() => MetaModel.Load(path, CPU));
        Assert.Contains("format version 99", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ManifestShapeDisagreesWithWeights_IsRefused()
    {
        string path = SaveSmallModel();
        RewriteManifest(path, json => json.Replace("\"hidden2\": 16", "\"hidden2\": 17", StringComparison.Ordinal));

        var error = Assert.Throws<InvalidDataException>(() => MetaModel.Load(path, CPU));
        Assert.Contains("shape", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Save_NonFiniteWeights_AreRefusedAtLoad()
    {
        var data = LearningFixtures.Synthetic(users: 200);
        using var trained = LearningFixtures.Train(data, LearningFixtures.QuickTraining(epochs: 1)).Model;
        using (no_grad())
        {
            trained.Network.parameters().First().view(-1)[0] = float.NaN;
        }

        string path = Path.Combine(directory, "nan.model");
        trained.Save(path);

        var error = Assert.Throws<InvalidDataException>(() => MetaModel.Load(path, CPU));
        Assert.Contains("NaN", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_VersionOneFile_IsRefusedWithAMessageToRetrain()
    {
        string path = SaveSmallModel();
        RewriteManifest(path, json => json
            .Replace("\"formatVersion\": 2", "\"formatVersion\": 1", StringComparison.Ordinal)
            .Replace("\"format\": \"streaming.model\"", "\"format\": \"streaming.melu\"", StringComparison.Ordinal));

        var error = Assert.Throws<InvalidDataException>(() => MetaModel.Load(path, CPU));
        Assert.Contains("format version 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("retrain", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("network", "two-tower-nonexistent")]
    [InlineData("method", "reptile")]
    public void Load_UnregisteredNetworkOrMethod_IsRefusedNamingIt(string field, string value)
    {
        string path = SaveSmallModel();
        RewriteManifest(path, json => System.Text.RegularExpressions.Regex.Replace(json, $"\"{field}\": \"[a-z0-9_-]+\"", $"\"{field}\": \"{value}\""));

        var error = Assert.Throws<InvalidDataException>(() => MetaModel.Load(path, CPU));
        Assert.Contains(value, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BuildsTheNetworkAndMethodTheManifestNames()
    {
        var data = LearningFixtures.Synthetic(users: 200);
        using var trained = LearningFixtures.Train(data, LearningFixtures.QuickTraining("lslr", FastWeightScope.Bias, epochs: 1)).Model;
        string path = Path.Combine(directory, "lslr.model");
        trained.Save(path);

        using var loaded = MetaModel.Load(path, CPU);

        Assert.Equal("melu", loaded.Manifest.Hyperparameters.Network);
        Assert.IsType<Lslr>(loaded.Module.Method);
        Assert.IsType<PerLayerPerStepRates>(loaded.Module.Rates);
        Assert.Equal(trained.Module.FastStateSize, loaded.Module.FastStateSize);
        Assert.Equal(LearningFixtures.WeightBytes(trained), LearningFixtures.WeightBytes(loaded));
    }

    [Fact]
    public void ToBytesAndClone_AgreeWithSave()
    {
        var data = LearningFixtures.Synthetic(users: 200);
        using var trained = LearningFixtures.Train(data, LearningFixtures.QuickTraining(epochs: 1)).Model;
        string path = Path.Combine(directory, "m.model");
        trained.Save(path);
        using var clone = trained.Clone();
        using (no_grad())
        {
            trained.Network.parameters().First().add_(1f);   // the clone owns its tensors
        }

        Assert.Equal(File.ReadAllBytes(path), clone.ToBytes());
    }

    private string SaveSmallModel()
    {
        var data = LearningFixtures.Synthetic(users: 200);
        using var trained = LearningFixtures.Train(data, LearningFixtures.QuickTraining(epochs: 1)).Model;
        string path = Path.Combine(directory, $"{Guid.NewGuid():N}.model");
        trained.Save(path);
        return path;
    }

    private static void RewriteManifest(string path, Func<string, string> edit)
    {
        var bytes = File.ReadAllBytes(path);
        int length = BitConverter.ToInt32(bytes, 8);
        string json = System.Text.Encoding.UTF8.GetString(bytes, 12, length);
        string edited = edit(json);
        Assert.NotEqual(json, edited);
        var manifest = System.Text.Encoding.UTF8.GetBytes(edited);
        using var file = File.Create(path);
        file.Write(bytes, 0, 8);
        file.Write(BitConverter.GetBytes(manifest.Length));
        file.Write(manifest);
        file.Write(bytes, 12 + length, bytes.Length - 12 - length);
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Streaming.Shared.Registry;

/// <summary>How registry manifests and routing are written: camelCase, enums as names, nulls left out, NaN metrics allowed.</summary>
public static class RegistryJson
{
    /// <summary>The serializer options of every registry store (indented: the files are read by people too).</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    internal static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    internal static T Deserialize<T>(ReadOnlySpan<byte> json, string origin)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Options) ?? throw new InvalidDataException($"{origin}: empty JSON");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{origin}: unreadable JSON: {e.Message}", e);
        }
    }
}

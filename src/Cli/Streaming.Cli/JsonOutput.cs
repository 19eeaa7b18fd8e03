using System.Text.Json;
using System.Text.Json.Serialization;

namespace Streaming.Cli;

/// <summary>How the CLI writes --json files: indented, camelCase, NaN allowed as a named literal.</summary>
internal static class JsonOutput
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}

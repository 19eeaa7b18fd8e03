using Streaming.Learning.Methods;
using System.CommandLine;
using Streaming.Shared.Data;

namespace Streaming.Cli.Commands;

/// <summary>Options and helpers shared by several commands.</summary>
internal static class CommonOptions
{
    public static Option<string> Data(bool required) => new("--data")
    {
        Description = "A folder of RecBole atomic files or original MovieLens-1M files, or 'synthetic' for the built-in generator.",
        Required = required,
        DefaultValueFactory = required ? null! : _ => "synthetic",
    };

    public static Option<int> Seed() => new("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 1 };

    public static Option<string> Device() => new("--device")
    {
        Description = "auto (CUDA when available), cpu or cuda.",
        DefaultValueFactory = _ => "auto",
    };

    public static Option<string?> Json() => new("--json") { Description = "Also write the results as JSON to this file." };

    /// <summary>Loads a data folder, or generates the synthetic set for "synthetic".</summary>
    public static RatingsDataset LoadData(string data) =>
        string.Equals(data, "synthetic", StringComparison.OrdinalIgnoreCase)
            ? SyntheticDataset.Generate(new SyntheticOptions())
            : DatasetLoader.Load(data);

    /// <summary>Parses an enum option value case-insensitively, failing with the option's name.</summary>
    public static T ParseEnum<T>(string value, string option)
        where T : struct, Enum =>
        Enum.TryParse<T>(value.Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out var parsed) && Enum.IsDefined(parsed)
            ? parsed
            : throw new ArgumentException($"{option}: '{value}' is not one of {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}");

    /// <summary>A registered method name (<see cref="MethodCatalog"/>), failing with the option's name and the registered ones.</summary>
    public static string ParseMethod(string value, string option) =>
        MethodCatalog.MethodNames.FirstOrDefault(n => string.Equals(n, value, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"{option}: '{value}' is not one of {string.Join(", ", MethodCatalog.MethodNames)}");
}

namespace Streaming.Shared.Data;

/// <summary>
/// Finds the MovieLens-1M copy that the project reads but never redistributes: <c>STREAMING_ML1M</c>, else a
/// <c>shared/datasets/ml-1m</c> folder beside the checkout (searched upwards from the app and the working directory).
/// </summary>
public static class MovieLensLocator
{
    /// <summary>The folder, or null when there is none.</summary>
    public static string? Find()
    {
        var fromEnv = Environment.GetEnvironmentVariable("STREAMING_ML1M");
        if (!string.IsNullOrWhiteSpace(fromEnv) && Directory.Exists(fromEnv))
        {
            return fromEnv;
        }

        string?[] starts = [Environment.GetEnvironmentVariable("STREAMING_ROOT"), AppContext.BaseDirectory, Environment.CurrentDirectory];
        foreach (var start in starts.Where(s => !string.IsNullOrEmpty(s)))
        {
            for (var dir = new DirectoryInfo(start!); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "datasets", "ml-1m");
                if (File.Exists(Path.Combine(candidate, "ml-1m.inter")))
                {
                    return candidate;
                }
            }
        }

        return null;
    }
}

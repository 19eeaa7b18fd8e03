namespace Streaming.Tests.Data;

/// <summary>A temporary folder for small data files, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "streaming-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>Writes a file from lines joined with \n (or the given newline) and returns its path.</summary>
    public string WriteWithNewline(string name, string newline, params string[] lines)
    {
        var file = System.IO.Path.Combine(Path, name);
        File.WriteAllText(file, string.Join(newline, lines) + newline);
        return file;
    }

    public string Write(string name, params string[] lines) => WriteWithNewline(name, "\n", lines);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder is harmless.
        }
    }
}

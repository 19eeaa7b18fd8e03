using Streaming.Shared.Learning;

namespace Streaming.Shared.Registry;

/// <summary>
/// The one place that calls the model file's full check (<see cref="MetaModel.Inspect"/>): format, manifest,
/// weight checksum, every parameter's name and shape, finite weights, without building a network. Whatever a
/// crafted file makes the reader throw comes out as <see cref="InvalidDataException"/> naming the file, so every
/// caller (push, promote, canary, the trainer's gate, the Adapter's loader) refuses it the same way.
/// </summary>
public static class ModelInspection
{
    /// <summary>The manifest of a model file that passed the check.</summary>
    /// <exception cref="InvalidDataException">Not a loadable model file; the message names <paramref name="origin"/> and the reason.</exception>
    public static ModelManifest Inspect(byte[] bytes, string origin)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        try
        {
            return MetaModel.Inspect(bytes, origin);
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or EndOfStreamException or IndexOutOfRangeException or NotSupportedException or InvalidOperationException)
        {
            throw new InvalidDataException($"{origin}: not a readable model file: {e.Message}", e);
        }
    }
}

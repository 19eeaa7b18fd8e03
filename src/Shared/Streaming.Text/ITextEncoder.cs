namespace Streaming.Text;

/// <summary>
/// Turns texts into fixed-length vectors: the text modality's one contract. Implementations are deterministic (the
/// same text gives the same vector, in any process and in any batch) and return L2-normalised vectors, so that a dot
/// product is a cosine similarity.
/// </summary>
/// <remarks>
/// The image modality (posters) would be a sibling seam, an <c>IImageEncoder</c> with the same shape
/// (<c>Name</c>, <c>Dimension</c>, <c>Encode(images)</c>) and its own per-item cache like
/// <see cref="ItemTextVectors"/>; it is not built, because posters cannot be fetched here (see docs/ARCHITECTURE.md).
/// </remarks>
public interface ITextEncoder
{
    /// <summary>The name <see cref="TextEncoders.Create"/> knows it by, and that caches and model files record.</summary>
    string Name { get; }

    /// <summary>The length of every vector.</summary>
    int Dimension { get; }

    /// <summary>One vector of <see cref="Dimension"/> values per text, in order; each has L2 norm 1 (or is all zeros when the encoder finds nothing in the text, which only the TF-IDF encoder does).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="texts"/> or one of its texts is null.</exception>
    float[][] Encode(IReadOnlyList<string> texts);
}

/// <summary>
/// An encoder whose vectors depend on state fitted to data (the TF-IDF encoder's IDF), not only on its name and
/// dimension. The fingerprint identifies that state: vectors cached under one fingerprint are never reused by an
/// encoder with another.
/// </summary>
public interface IFittedTextEncoder : ITextEncoder
{
    /// <summary>A short stable digest of the fitted state (equal state, equal fingerprint, in any process).</summary>
    string Fingerprint { get; }
}

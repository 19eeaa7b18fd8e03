using Streaming.Text;

namespace Streaming.Tests.Text;

/// <summary>Wraps an encoder and counts the texts it is asked to encode (keeps the inner encoder's fingerprint).</summary>
internal sealed class CountingEncoder(ITextEncoder inner) : IFittedTextEncoder
{
    public int Texts { get; private set; }

    public int Calls { get; private set; }

    public List<string> Seen { get; } = [];

    public string Name => inner.Name;

    public int Dimension => inner.Dimension;

    public string Fingerprint => inner is IFittedTextEncoder fitted ? fitted.Fingerprint : "";

    public float[][] Encode(IReadOnlyList<string> texts)
    {
        Calls++;
        Texts += texts.Count;
        Seen.AddRange(texts);
        return inner.Encode(texts);
    }
}

internal static class Vectors
{
    public static double Dot(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double sum = 0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += (double)a[i] * b[i];
        }

        return sum;
    }

    public static double Norm(float[] a) => Math.Sqrt(Dot(a, a));
}

namespace Streaming.Text;

internal static class VectorMath
{
    /// <summary>Scales <paramref name="vector"/> to L2 norm 1 in place (the norm summed in double); an all-zero vector stays zero.</summary>
    public static void Normalise(float[] vector)
    {
        double sum = 0;
        foreach (var v in vector)
        {
            sum += (double)v * v;
        }

        if (sum <= 0)
        {
            return;
        }

        var scale = 1.0 / Math.Sqrt(sum);
        for (var i = 0; i < vector.Length; i++)
        {
            vector[i] = (float)(vector[i] * scale);
        }
    }
}

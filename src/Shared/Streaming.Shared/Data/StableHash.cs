namespace Streaming.Shared.Data;

/// <summary>
/// The SplitMix64 finaliser: a well-mixed, platform-independent hash, unlike <see cref="HashCode"/>, which is
/// randomised per process. Seeds per-user shuffles and deterministic random scores.
/// </summary>
public static class StableHash
{
    /// <summary>Mixes <paramref name="value"/> (SplitMix64's finaliser, with its increment).</summary>
    public static ulong Mix(ulong value)
    {
        ulong z = value + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A non-negative 31-bit seed for (<paramref name="seed"/>, <paramref name="id"/>).</summary>
    public static int Seed(int seed, int id) => (int)(Mix(((ulong)(uint)seed << 32) | (uint)id) & 0x7FFFFFFF);
}

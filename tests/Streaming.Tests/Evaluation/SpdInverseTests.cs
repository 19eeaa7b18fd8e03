using Streaming.Shared.Evaluation.TopN;

namespace Streaming.Tests.Evaluation;

[Trait("Kind", "Unit")]
public sealed class SpdInverseTests
{
    [Fact]
    public void InvertInPlace_TwoByTwo_GivesTheKnownInverse()
    {
        double[] a = [4, 2, 2, 3];
        SpdInverse.InvertInPlace(a, 2);

        // [[4, 2], [2, 3]]^-1 = 1/8 [[3, -2], [-2, 4]].
        double[] expected = [3.0 / 8, -2.0 / 8, -2.0 / 8, 4.0 / 8];
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(expected[i], a[i], 14);
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 2)]
    [InlineData(261, 1)]
    [InlineData(261, 2)]
    public void InvertInPlace_RandomSpdAcrossBlockEdges_TimesTheMatrixIsIdentity(int n, int threads)
    {
        var a = RandomSpd(n, seed: n);
        var inverse = (double[])a.Clone();
        SpdInverse.InvertInPlace(inverse, n, threads);

        var worst = 0.0;
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var sum = 0.0;
                for (var k = 0; k < n; k++)
                {
                    sum += a[(i * n) + k] * inverse[(k * n) + j];
                }

                worst = Math.Max(worst, Math.Abs(sum - (i == j ? 1 : 0)));
                Assert.Equal(inverse[(i * n) + j], inverse[(j * n) + i]);
            }
        }

        Assert.True(worst < 1e-9, $"max |A A^-1 - I| = {worst}");
    }

    [Fact]
    public void InvertInPlace_OneOrTwoThreads_GiveTheSameResult()
    {
        var a = RandomSpd(150, seed: 4);
        var one = (double[])a.Clone();
        var two = (double[])a.Clone();
        SpdInverse.InvertInPlace(one, 150, 1);
        SpdInverse.InvertInPlace(two, 150, 2);
        Assert.Equal(one, two);
    }

    [Fact]
    public void InvertInPlace_NotPositiveDefinite_ThrowsNamingThePivot()
    {
        double[] a = [1, 2, 2, 1];
        var error = Assert.Throws<ArgumentException>(() => SpdInverse.InvertInPlace(a, 2));
        Assert.Contains("pivot 1", error.Message, StringComparison.Ordinal);
    }

    /// <summary>M M^T + n I for a random M: symmetric, well conditioned.</summary>
    internal static double[] RandomSpd(int n, int seed)
    {
        var random = new Random(seed);
        var m = new double[n * n];
        for (var i = 0; i < m.Length; i++)
        {
            m[i] = random.NextDouble() - 0.5;
        }

        var a = new double[n * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var sum = i == j ? n : 0.0;
                for (var k = 0; k < n; k++)
                {
                    sum += m[(i * n) + k] * m[(j * n) + k];
                }

                a[(i * n) + j] = sum;
            }
        }

        return a;
    }
}

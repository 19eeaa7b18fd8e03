using System.Numerics;
using System.Runtime.InteropServices;

namespace Streaming.Shared.Evaluation.TopN;

/// <summary>
/// Inverse of a dense symmetric positive-definite matrix by Cholesky factorisation, in double precision,
/// torch-free (EASE needs a ~3,700 x 3,700 inverse and the evaluation core must not depend on TorchSharp).
/// </summary>
/// <remarks>
/// LAPACK's <c>potrf</c> + <c>potri</c> route: A = L L^T (blocked, right-looking), U = (L^-1)^T, A^-1 = U U^T.
/// All three steps spend their time in one kernel: dot products of one streamed row against four rows kept in
/// cache, with <see cref="Vector{T}"/> fused multiply-adds, so each streamed vector is loaded once for four
/// products (the steps are memory-bound otherwise). Work is shared by a few threads that take row groups
/// from a counter, heaviest first, because the triangular loops are very uneven.
/// Not thread-safe on the same array; the method itself is reentrant.
/// </remarks>
public static class SpdInverse
{
    private const int Block = 128;
    private const int Group = 4;

    /// <summary>Inverts <paramref name="matrix"/> (row-major, <paramref name="n"/> x <paramref name="n"/>, symmetric) in place.</summary>
    /// <param name="matrix">The matrix; only its lower triangle is read. Holds the full symmetric inverse on return.</param>
    /// <param name="n">The order of the matrix.</param>
    /// <param name="degreeOfParallelism">Threads to use (at least 1).</param>
    /// <exception cref="ArgumentException">The array is not n x n, or the matrix is not positive definite (the message names the pivot).</exception>
    public static void InvertInPlace(double[] matrix, int n, int degreeOfParallelism = 2)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfLessThan(degreeOfParallelism, 1);
        if (matrix.Length != (long)n * n)
        {
            throw new ArgumentException($"Expected {n} x {n} = {(long)n * n} values, got {matrix.Length}.", nameof(matrix));
        }

        Factor(matrix, n, degreeOfParallelism);
        var u = InvertFactorTransposed(matrix, n, degreeOfParallelism);
        MultiplyByTranspose(u, matrix, n, degreeOfParallelism);
    }

    /// <summary>A = L L^T in place: L in the lower triangle (the upper triangle is left as it was).</summary>
    private static void Factor(double[] a, int n, int threads)
    {
        var panel = new double[Math.Max(n, 1) * Block];
        for (var k0 = 0; k0 < n; k0 += Block)
        {
            var kEnd = Math.Min(k0 + Block, n);
            var width = kEnd - k0;

            // Diagonal block (Cholesky-Banachiewicz): columns < k0 were already subtracted by earlier updates.
            for (var i = k0; i < kEnd; i++)
            {
                for (var j = k0; j <= i; j++)
                {
                    var s = a[(i * n) + j] - Dot(a.AsSpan((i * n) + k0, j - k0), a.AsSpan((j * n) + k0, j - k0));
                    if (i == j)
                    {
                        if (!(s > 0) || !double.IsFinite(s))
                        {
                            throw new ArgumentException($"The matrix is not positive definite (pivot {i} is {s}).", nameof(a));
                        }

                        a[(i * n) + i] = Math.Sqrt(s);
                    }
                    else
                    {
                        a[(i * n) + j] = s / a[(j * n) + j];
                    }
                }
            }

            // Panel below the diagonal block: each row is a small triangular solve, independent of the others.
            Run(threads, (n - kEnd + Group - 1) / Group, g =>
            {
                var iEnd = Math.Min(kEnd + ((g + 1) * Group), n);
                for (var i = kEnd + (g * Group); i < iEnd; i++)
                {
                    for (var j = k0; j < kEnd; j++)
                    {
                        var s = a[(i * n) + j] - Dot(a.AsSpan((i * n) + k0, j - k0), a.AsSpan((j * n) + k0, j - k0));
                        a[(i * n) + j] = s / a[(j * n) + j];
                    }
                }
            });

            // Trailing update A22 -= L21 L21^T (lower part), on a packed copy of the panel so that rows are contiguous.
            var rows = n - kEnd;
            if (rows == 0)
            {
                continue;
            }

            for (var r = 0; r < rows; r++)
            {
                a.AsSpan(((kEnd + r) * n) + k0, width).CopyTo(panel.AsSpan(r * width, width));
            }

            var groups = (rows + Group - 1) / Group;
            Run(threads, groups, g =>
            {
                // Heaviest (lowest) rows first.
                var r0 = (groups - 1 - g) * Group;
                var rEnd = Math.Min(r0 + Group, rows);
                Span<double> sums = stackalloc double[Group];
                var x = RowsOf(panel, width, r0, rEnd);
                for (var c = 0; c < rEnd; c++)
                {
                    Dot4(panel.AsSpan(c * width, width), x.Row0, x.Row1, x.Row2, x.Row3, sums);
                    for (var q = 0; q < rEnd - r0; q++)
                    {
                        var r = r0 + q;
                        if (c <= r)
                        {
                            a[((kEnd + r) * n) + kEnd + c] -= sums[q];
                        }
                    }
                }
            });
        }
    }

    /// <summary>U = (L^-1)^T, upper triangular, in a new array: U[j][i] = -(L[i][j..i) . U[j][j..i)) / L[i][i].</summary>
    private static double[] InvertFactorTransposed(double[] l, int n, int threads)
    {
        var u = new double[l.Length];
        var groups = (n + Group - 1) / Group;
        Run(threads, groups, g =>
        {
            var j0 = g * Group;
            var jEnd = Math.Min(j0 + Group, n);
            Span<double> sums = stackalloc double[Group];
            for (var j = j0; j < jEnd; j++)
            {
                u[(j * n) + j] = 1 / l[(j * n) + j];
            }

            for (var i = j0 + 1; i < n; i++)
            {
                // Rows j0..jEnd of U are zero below their diagonal and not yet written at column i, so the
                // common range [j0, i) gives each row its own sum.
                var len = i - j0;
                Dot4(
                    l.AsSpan((i * n) + j0, len),
                    u.AsSpan((j0 * n) + j0, len),
                    j0 + 1 < jEnd ? u.AsSpan(((j0 + 1) * n) + j0, len) : default,
                    j0 + 2 < jEnd ? u.AsSpan(((j0 + 2) * n) + j0, len) : default,
                    j0 + 3 < jEnd ? u.AsSpan(((j0 + 3) * n) + j0, len) : default,
                    sums);
                var lii = l[(i * n) + i];
                for (var j = j0; j < Math.Min(jEnd, i); j++)
                {
                    u[(j * n) + i] = -sums[j - j0] / lii;
                }
            }
        });
        return u;
    }

    /// <summary>A^-1 = U U^T: entry (i, j), i &lt;= j, is U[i][j..n) . U[j][j..n); written to both triangles of <paramref name="result"/>.</summary>
    private static void MultiplyByTranspose(double[] u, double[] result, int n, int threads)
    {
        var groups = (n + Group - 1) / Group;
        Run(threads, groups, g =>
        {
            var i0 = g * Group;
            var iEnd = Math.Min(i0 + Group, n);
            Span<double> sums = stackalloc double[Group];
            for (var j = i0; j < n; j++)
            {
                var len = n - j;
                Dot4(
                    u.AsSpan((j * n) + j, len),
                    u.AsSpan((i0 * n) + j, len),
                    i0 + 1 < iEnd ? u.AsSpan(((i0 + 1) * n) + j, len) : default,
                    i0 + 2 < iEnd ? u.AsSpan(((i0 + 2) * n) + j, len) : default,
                    i0 + 3 < iEnd ? u.AsSpan(((i0 + 3) * n) + j, len) : default,
                    sums);
                for (var i = i0; i < Math.Min(iEnd, j + 1); i++)
                {
                    result[(i * n) + j] = sums[i - i0];
                    result[(j * n) + i] = sums[i - i0];
                }
            }
        });
    }

    private static Rows RowsOf(double[] panel, int width, int r0, int rEnd) => new(
        panel.AsSpan(r0 * width, width),
        r0 + 1 < rEnd ? panel.AsSpan((r0 + 1) * width, width) : default,
        r0 + 2 < rEnd ? panel.AsSpan((r0 + 2) * width, width) : default,
        r0 + 3 < rEnd ? panel.AsSpan((r0 + 3) * width, width) : default);

    /// <summary>Runs <paramref name="body"/> for 0..count-1 on <paramref name="threads"/> threads taking the next index from a counter.</summary>
    private static void Run(int threads, int count, Action<int> body)
    {
        if (count <= 0)
        {
            return;
        }

        if (threads == 1 || count == 1)
        {
            for (var g = 0; g < count; g++)
            {
                body(g);
            }

            return;
        }

        var next = -1;
        var workers = new Thread[Math.Min(threads, count) - 1];
        ExceptionHolder failure = new();
        void Work()
        {
            try
            {
                int g;
                while ((g = Interlocked.Increment(ref next)) < count)
                {
                    body(g);
                }
            }
#pragma warning disable CA1031 // Rethrown on the calling thread below.
            catch (Exception e)
#pragma warning restore CA1031
            {
                failure.Error ??= e;
                Interlocked.Exchange(ref next, count);
            }
        }

        for (var t = 0; t < workers.Length; t++)
        {
            workers[t] = new Thread(Work) { IsBackground = true };
            workers[t].Start();
        }

        Work();
        foreach (var worker in workers)
        {
            worker.Join();
        }

        if (failure.Error is { } error)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        }
    }

    private static double Dot(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
        var vy = MemoryMarshal.Cast<double, Vector<double>>(y);
        var acc = Vector<double>.Zero;
        for (var v = 0; v < vx.Length; v++)
        {
            acc = Vector.FusedMultiplyAdd(vx[v], vy[v], acc);
        }

        var sum = Vector.Sum(acc);
        for (var t = vx.Length * Vector<double>.Count; t < x.Length; t++)
        {
            sum += x[t] * y[t];
        }

        return sum;
    }

    /// <summary>sums[q] = x . yq for four rows of the length of <paramref name="x"/>; an empty row gives 0.</summary>
    private static void Dot4(
        ReadOnlySpan<double> x, ReadOnlySpan<double> y0, ReadOnlySpan<double> y1, ReadOnlySpan<double> y2, ReadOnlySpan<double> y3, Span<double> sums)
    {
        if (y3.Length == x.Length)
        {
            var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
            var v0 = MemoryMarshal.Cast<double, Vector<double>>(y0)[..vx.Length];
            var v1 = MemoryMarshal.Cast<double, Vector<double>>(y1)[..vx.Length];
            var v2 = MemoryMarshal.Cast<double, Vector<double>>(y2)[..vx.Length];
            var v3 = MemoryMarshal.Cast<double, Vector<double>>(y3)[..vx.Length];
            Vector<double> a0 = Vector<double>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (var v = 0; v < vx.Length; v++)
            {
                var xv = vx[v];
                a0 = Vector.FusedMultiplyAdd(xv, v0[v], a0);
                a1 = Vector.FusedMultiplyAdd(xv, v1[v], a1);
                a2 = Vector.FusedMultiplyAdd(xv, v2[v], a2);
                a3 = Vector.FusedMultiplyAdd(xv, v3[v], a3);
            }

            double s0 = Vector.Sum(a0), s1 = Vector.Sum(a1), s2 = Vector.Sum(a2), s3 = Vector.Sum(a3);
            for (var t = vx.Length * Vector<double>.Count; t < x.Length; t++)
            {
                s0 += x[t] * y0[t];
                s1 += x[t] * y1[t];
                s2 += x[t] * y2[t];
                s3 += x[t] * y3[t];
            }

            sums[0] = s0;
            sums[1] = s1;
            sums[2] = s2;
            sums[3] = s3;
            return;
        }

        // A short last group: the rare case, one row at a time.
        sums[0] = y0.Length == x.Length ? Dot(x, y0) : 0;
        sums[1] = y1.Length == x.Length ? Dot(x, y1) : 0;
        sums[2] = y2.Length == x.Length ? Dot(x, y2) : 0;
        sums[3] = 0;
    }

    private readonly ref struct Rows(Span<double> row0, Span<double> row1, Span<double> row2, Span<double> row3)
    {
        public Span<double> Row0 { get; } = row0;

        public Span<double> Row1 { get; } = row1;

        public Span<double> Row2 { get; } = row2;

        public Span<double> Row3 { get; } = row3;
    }

    private sealed class ExceptionHolder
    {
        public Exception? Error { get; set; }
    }
}

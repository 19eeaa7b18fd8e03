namespace Streaming.Shared.Online;

/// <summary>
/// The online outcomes of one arm (a model version, in a canary window or not), summed over its users: every
/// interaction that came after a list of this arm was served counts once, for the latest list before it.
/// </summary>
/// <param name="Arm">The arm's name (<see cref="OnlineLayout.Arm"/>).</param>
/// <param name="Events">Interactions attributed.</param>
/// <param name="Users">Users with at least one attributed interaction.</param>
/// <param name="Hits">Interactions on an item of the list.</param>
/// <param name="ReciprocalRanks">Sum of 1/rank over the hits (misses add 0).</param>
/// <param name="ReciprocalRanksSquared">Sum of (1/rank)^2.</param>
/// <param name="Rated">Hits with an explicit rating (the list predicted a rating for the item).</param>
/// <param name="AbsoluteErrors">Sum of |predicted - actual| over the rated hits.</param>
/// <param name="SquaredErrors">Sum of (predicted - actual)^2.</param>
/// <param name="UserHitRates">Sum over users of each user's own hit rate (hits / events).</param>
/// <param name="UserHitRatesSquared">Sum over users of the square of each user's hit rate.</param>
public sealed record ArmTally(
    string Arm,
    long Events,
    long Users,
    long Hits,
    double ReciprocalRanks,
    double ReciprocalRanksSquared,
    long Rated,
    double AbsoluteErrors,
    double SquaredErrors,
    double UserHitRates,
    double UserHitRatesSquared)
{
    /// <summary>The version part of <see cref="Arm"/>.</summary>
    public string Version => Arm.Split('@')[0];

    /// <summary>The canary window part of <see cref="Arm"/>, or null.</summary>
    public string? Window => Arm.Contains('@', StringComparison.Ordinal) ? Arm[(Arm.IndexOf('@', StringComparison.Ordinal) + 1)..] : null;

    /// <summary>Hit rate@K of the next interactions: the share of attributed interactions whose item was in the list.</summary>
    public double HitRate => Events == 0 ? double.NaN : (double)Hits / Events;

    /// <summary>Mean reciprocal rank over the attributed interactions (0 for a miss).</summary>
    public double Mrr => Events == 0 ? double.NaN : ReciprocalRanks / Events;

    /// <summary>Mean absolute error of the predicted ratings over the rated hits.</summary>
    public double Mae => Rated == 0 ? double.NaN : AbsoluteErrors / Rated;

    /// <summary>The mean over users of each user's hit rate: what the canary's sequential test compares.</summary>
    public double MeanUserHitRate => Users == 0 ? double.NaN : UserHitRates / Users;

    /// <summary>The sample variance of the per-user hit rates (0 below two users).</summary>
    public double UserHitRateVariance => Users < 2 ? 0 : Math.Max(0, (UserHitRatesSquared - (UserHitRates * UserHitRates / Users)) / (Users - 1));

    /// <summary>Wilson score interval of <see cref="HitRate"/> at <paramref name="confidence"/>.</summary>
    public (double Low, double High) HitRateInterval(double confidence) => Intervals.Wilson(Hits, Events, confidence);

    /// <summary>Normal interval of <see cref="Mrr"/> at <paramref name="confidence"/>.</summary>
    public (double Low, double High) MrrInterval(double confidence) => Intervals.Normal(ReciprocalRanks, ReciprocalRanksSquared, Events, confidence);

    /// <summary>Normal interval of <see cref="Mae"/> at <paramref name="confidence"/>.</summary>
    public (double Low, double High) MaeInterval(double confidence) => Intervals.Normal(AbsoluteErrors, SquaredErrors, Rated, confidence);

    /// <summary>An arm's sums from the aggregate hash's values, in <see cref="OnlineLayout.Stats"/> order.</summary>
    public static ArmTally FromSums(string arm, IReadOnlyList<double> sums)
    {
        ArgumentNullException.ThrowIfNull(sums);
        return new ArmTally(arm, (long)sums[0], (long)sums[1], (long)sums[2], sums[3], sums[4], (long)sums[5], sums[6], sums[7], sums[8], sums[9]);
    }
}

/// <summary>Confidence intervals of the online figures.</summary>
public static class Intervals
{
    /// <summary>The two-sided standard normal quantile for <paramref name="confidence"/> (e.g. 1.96 for 0.95).</summary>
    public static double Z(double confidence) => NormalQuantile(0.5 + (confidence / 2));

    /// <summary>Wilson score interval of a proportion (Wilson 1927): sound near 0 and 1 and for few trials, unlike the normal one.</summary>
    public static (double Low, double High) Wilson(long successes, long trials, double confidence)
    {
        if (trials == 0)
        {
            return (double.NaN, double.NaN);
        }

        double z = Z(confidence), n = trials, p = successes / n;
        double centre = (p + (z * z / (2 * n))) / (1 + (z * z / n));
        double half = z / (1 + (z * z / n)) * Math.Sqrt((p * (1 - p) / n) + (z * z / (4 * n * n)));
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    /// <summary>Normal interval of a mean from its sum and sum of squares over <paramref name="count"/> values.</summary>
    public static (double Low, double High) Normal(double sum, double sumOfSquares, long count, double confidence)
    {
        if (count == 0)
        {
            return (double.NaN, double.NaN);
        }

        double mean = sum / count;
        double variance = count < 2 ? 0 : Math.Max(0, (sumOfSquares - (sum * sum / count)) / (count - 1));
        double half = Z(confidence) * Math.Sqrt(variance / count);
        return (mean - half, mean + half);
    }

    /// <summary>The standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9).</summary>
    public static double NormalQuantile(double p)
    {
        if (p <= 0 || p >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(p), p, "a probability strictly between 0 and 1");
        }

        double[] a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        double[] b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        double[] c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        double[] d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        const double Low = 0.02425;
        if (p < Low || p > 1 - Low)
        {
            double q = Math.Sqrt(-2 * Math.Log(p < Low ? p : 1 - p));
            double x = Horner(c, q) / ((Horner(d, q) * q) + 1);
            return p < Low ? x : -x;
        }

        double r = p - 0.5, s = r * r;
        return Horner(a, s) * r / ((Horner(b, s) * s) + 1);
    }

    // c[0] x^(n-1) + ... + c[n-1]
    private static double Horner(double[] coefficients, double x) => coefficients.Aggregate(0.0, (sum, c) => (sum * x) + c);
}

using System.Globalization;
using Streaming.Shared.Evaluation;
using Streaming.Shared.Learning;

namespace Streaming.MetaTrainer;

/// <summary>The gate's verdict: null <see cref="Reason"/> means the candidate may be published.</summary>
public sealed record GateDecision(string? Reason)
{
    public bool Passed => Reason is null;
}

/// <summary>
/// Decides whether a candidate may be published. In order: its file must be loadable (format, checksum, every
/// weight finite: <see cref="MetaModel.Inspect"/>, the registry's own check, done first so the reason is ours);
/// it must have been evaluated on at least <see cref="MetaTrainerOptions.MinEvaluationUsers"/> held-out users,
/// with finite figures; and, when there is a parent (the active version, evaluated on the same users), its MAE
/// may exceed the parent's by at most <see cref="MetaTrainerOptions.MaxMaeRegression"/> and its nDCG@3 fall short
/// by at most <see cref="MetaTrainerOptions.MaxNdcgRegression"/>. Pure: no I/O.
/// </summary>
public static class CandidateGate
{
    /// <param name="candidateFile">The candidate's model file.</param>
    /// <param name="candidate">The candidate's figures on the held-out users.</param>
    /// <param name="parent">The parent's figures on the same users, or null without a parent.</param>
    /// <param name="parentVersion">The parent's version, for the reason.</param>
    /// <param name="options">Minimum users and tolerances.</param>
    public static GateDecision Decide(byte[] candidateFile, PartitionMetrics candidate, PartitionMetrics? parent, string? parentVersion, MetaTrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(candidateFile);
        ArgumentNullException.ThrowIfNull(candidate);
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            Shared.Registry.ModelInspection.Inspect(candidateFile, "candidate");
        }
        catch (InvalidDataException e)
        {
            return new GateDecision($"the candidate is not a loadable model: {e.Message}");
        }

        if (candidate.Users < options.MinEvaluationUsers)
        {
            return new GateDecision(TooFewUsers(candidate.Users, options));
        }

        if (!double.IsFinite(candidate.Mae) || !double.IsFinite(candidate.Ndcg3))
        {
            return new GateDecision(Text($"the candidate's held-out figures are not finite (MAE {candidate.Mae}, nDCG@3 {candidate.Ndcg3})"));
        }

        if (parent is null)
        {
            return new GateDecision(null);
        }

        double maeWorse = candidate.Mae - parent.Mae;
        if (maeWorse > options.MaxMaeRegression)
        {
            return new GateDecision(Text($"MAE regression: the candidate's held-out MAE {candidate.Mae:F4} is worse than the parent {parentVersion}'s {parent.Mae:F4} by {maeWorse:F4} (MetaTrainer:MaxMaeRegression {options.MaxMaeRegression}) on {candidate.Users} users"));
        }

        double ndcgWorse = parent.Ndcg3 - candidate.Ndcg3;
        if (ndcgWorse > options.MaxNdcgRegression)
        {
            return new GateDecision(Text($"nDCG@3 regression: the candidate's held-out nDCG@3 {candidate.Ndcg3:F4} is worse than the parent {parentVersion}'s {parent.Ndcg3:F4} by {ndcgWorse:F4} (MetaTrainer:MaxNdcgRegression {options.MaxNdcgRegression}) on {candidate.Users} users"));
        }

        return new GateDecision(null);
    }

    /// <summary>The refusal for too few held-out users (also given before training, when the sample already has too few).</summary>
    public static string TooFewUsers(int users, MetaTrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Text($"too few held-out evaluation users: {users} (MetaTrainer:MinEvaluationUsers {options.MinEvaluationUsers})");
    }

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

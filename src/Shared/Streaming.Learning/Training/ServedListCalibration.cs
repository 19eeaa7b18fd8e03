using System.Globalization;
using Streaming.Learning.Models;
using Streaming.Learning.Networks;
using Streaming.Learning.Serving;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation.TopN;

namespace Streaming.Learning.Training;

/// <summary>
/// Chooses a trained model's served-list weight (<see cref="IServedListCalibration"/>) on the validation users: each
/// weight's served lists (adapted with the model's own steps, as the Adapter serves them) are ranked over the catalogue
/// items the model has an identity for, and the weight with the best mean recall@20 of the liked query items is kept
/// if it beats the neutral weight by more than <see cref="StandardErrors"/> standard errors of the users' paired
/// differences; otherwise the neutral weight stays. A few dozen validation users cannot tell weights apart, and a
/// weight chosen on noise would move every list for nothing.
/// </summary>
public static class ServedListCalibration
{
    /// <summary>How many standard errors of the paired per-user difference a weight must beat the neutral one by.</summary>
    public const double StandardErrors = 2;

    /// <summary>Sets the chosen weight on <paramref name="model"/>'s network; returns what was tried and chosen, in words, or null when the network has no served weight or there are no validation users.</summary>
    /// <param name="model">The trained model (its network is changed in place).</param>
    /// <param name="validation">The validation users' tasks (never trained on).</param>
    /// <param name="catalogue">Every item's side features.</param>
    /// <param name="profiles">Profiles by user id.</param>
    public static string? Calibrate(MetaModel model, IReadOnlyList<UserTask> validation, IReadOnlyDictionary<int, ItemInfo> catalogue, IReadOnlyDictionary<int, UserProfile> profiles)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(validation);
        ArgumentNullException.ThrowIfNull(catalogue);
        ArgumentNullException.ThrowIfNull(profiles);
        if (model.Network is not IServedListCalibration calibration || validation.Count == 0)
        {
            return null;
        }

        var candidates = catalogue.Keys.Where(id => model.Features.ItemIdIndex(id) != FeatureVocabulary.Unknown).Order().ToArray();
        using var recommender = new BatchRecommender(model, catalogue.Values.OrderBy(i => i.ItemId));
        var evaluator = new TopNEvaluator();
        var served = recommender.TaskScorer(profiles, model.Module.Hyper.InnerSteps);
        var choice = Choose(calibration.ServedWeights, weight =>
        {
            calibration.ServedWeight = weight;
            return evaluator.UserRecalls(served, validation, candidates);
        });
        calibration.ServedWeight = choice.Chosen;
        return choice.Describe();
    }

    /// <summary>
    /// Tries every weight in order (the first is the neutral one) and keeps the one of the highest mean recall (the
    /// earliest on a tie) when its paired gain over the neutral weight exceeds <see cref="StandardErrors"/> standard
    /// errors; otherwise the neutral weight.
    /// </summary>
    /// <param name="weights">The weights, the neutral one first.</param>
    /// <param name="userRecalls">Each validation user's recall under a weight, in the same user order every time; NaN for users who do not count.</param>
    public static CalibrationChoice Choose(IReadOnlyList<double> weights, Func<double, double[]> userRecalls)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(userRecalls);
        ArgumentOutOfRangeException.ThrowIfZero(weights.Count);
        var recalls = weights.Select(userRecalls).ToArray();
        var means = recalls.Select(r => r.Where(double.IsFinite).DefaultIfEmpty(0).Average()).ToArray();
        int best = 0;
        for (int w = 1; w < weights.Count; w++)
        {
            if (means[w] > means[best])
            {
                best = w;
            }
        }

        // The paired difference over the users both lists count (the same users: the relevance does not depend on the weight).
        var differences = recalls[best].Zip(recalls[0], (b, n) => b - n).Where(double.IsFinite).ToArray();
        double gain = differences.DefaultIfEmpty(0).Average();
        double error = differences.Length < 2 ? double.PositiveInfinity
            : Math.Sqrt(differences.Sum(d => (d - gain) * (d - gain)) / (differences.Length - 1) / differences.Length);
        bool significant = best != 0 && gain > StandardErrors * error;
        return new CalibrationChoice(weights, means, weights[best], gain, error, significant ? weights[best] : weights[0]);
    }
}

/// <summary>What <see cref="ServedListCalibration.Choose"/> found.</summary>
/// <param name="Weights">The weights tried, the neutral one first.</param>
/// <param name="MeanRecalls">Each weight's mean recall.</param>
/// <param name="Best">The weight of the highest mean recall.</param>
/// <param name="Gain">Its mean paired gain over the neutral weight.</param>
/// <param name="StandardError">The standard error of that gain.</param>
/// <param name="Chosen">The weight kept: <paramref name="Best"/> when its gain is significant, else the neutral weight.</param>
public sealed record CalibrationChoice(IReadOnlyList<double> Weights, IReadOnlyList<double> MeanRecalls, double Best, double Gain, double StandardError, double Chosen)
{
    /// <summary>One line: every weight's recall, then the choice and why.</summary>
    public string Describe()
    {
        string tried = string.Join(", ", Weights.Select((w, i) => string.Create(CultureInfo.InvariantCulture, $"{w}: {MeanRecalls[i]:F4}")));
        string why = Best == Weights[0]
            ? "no weight beat the neutral one"
            : string.Create(CultureInfo.InvariantCulture, $"{Best} gains {Gain:+0.0000;-0.0000} (standard error {StandardError:F4}) over {Weights[0]}, {(Chosen == Best ? "more" : "not more")} than {ServedListCalibration.StandardErrors} standard errors");
        return string.Create(CultureInfo.InvariantCulture, $"weight by validation recall@20 {tried}; {why}; chose {Chosen}");
    }
}

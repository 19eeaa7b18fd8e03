using Streaming.Shared.Data;

namespace Streaming.Shared.Evaluation;

/// <summary>Predicts the ratings of a task's query items, given its support set.</summary>
public interface IRatingPredictor
{
    /// <summary>Short name for reports ("global_mean", ...).</summary>
    string Name { get; }

    /// <summary>One predicted rating per query item of <paramref name="task"/>, in query order.</summary>
    float[] Predict(UserTask task);
}

/// <summary>Predicts the mean training rating for everything.</summary>
public sealed class GlobalMeanPredictor : IRatingPredictor
{
    /// <summary>Computes the mean of <paramref name="training"/> (which must not be empty).</summary>
    public GlobalMeanPredictor(IEnumerable<Rating> training)
    {
        ArgumentNullException.ThrowIfNull(training);
        double sum = 0;
        long count = 0;
        foreach (var r in training)
        {
            sum += r.Value;
            count++;
        }

        if (count == 0)
        {
            throw new ArgumentException("The global mean needs at least one training rating.", nameof(training));
        }

        Mean = (float)(sum / count);
    }

    /// <summary>The mean training rating.</summary>
    public float Mean { get; }

    /// <inheritdoc />
    public string Name => "global_mean";

    /// <inheritdoc />
    public float[] Predict(UserTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        var result = new float[task.Query.Count];
        Array.Fill(result, Mean);
        return result;
    }
}

/// <summary>Predicts each item's mean training rating; the global mean for items unseen in training.</summary>
public sealed class ItemMeanPredictor : IRatingPredictor
{
    private readonly Dictionary<int, float> _means = [];

    /// <summary>Computes per-item means of <paramref name="training"/> (which must not be empty).</summary>
    public ItemMeanPredictor(IEnumerable<Rating> training)
    {
        ArgumentNullException.ThrowIfNull(training);
        var sums = new Dictionary<int, (double Sum, int Count)>();
        double total = 0;
        long count = 0;
        foreach (var r in training)
        {
            sums.TryGetValue(r.ItemId, out var s);
            sums[r.ItemId] = (s.Sum + r.Value, s.Count + 1);
            total += r.Value;
            count++;
        }

        if (count == 0)
        {
            throw new ArgumentException("Item means need at least one training rating.", nameof(training));
        }

        GlobalMean = (float)(total / count);
        foreach (var (item, s) in sums)
        {
            _means[item] = (float)(s.Sum / s.Count);
        }
    }

    /// <summary>The fallback for unseen items.</summary>
    public float GlobalMean { get; }

    /// <inheritdoc />
    public string Name => "item_mean";

    /// <inheritdoc />
    public float[] Predict(UserTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        var result = new float[task.Query.Count];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = _means.TryGetValue(task.Query[i].ItemId, out var mean) ? mean : GlobalMean;
        }

        return result;
    }
}

/// <summary>Predicts the mean of the user's support ratings (the global mean when the support set is empty).</summary>
public sealed class SupportMeanPredictor(float globalMean) : IRatingPredictor
{
    /// <inheritdoc />
    public string Name => "support_mean";

    /// <inheritdoc />
    public float[] Predict(UserTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        var mean = globalMean;
        if (task.Support.Count > 0)
        {
            double sum = 0;
            foreach (var r in task.Support)
            {
                sum += r.Value;
            }

            mean = (float)(sum / task.Support.Count);
        }

        var result = new float[task.Query.Count];
        Array.Fill(result, mean);
        return result;
    }
}

/// <summary>Runs a predictor over tasks and averages the per-user metrics.</summary>
public static class Evaluator
{
    /// <summary>
    /// MAE, RMSE and nDCG@3 of <paramref name="predictor"/> on the query sets of <paramref name="tasks"/>; MAE on the
    /// whole stars <paramref name="decoder"/> reads off the predictions, when given.
    /// </summary>
    public static PartitionMetrics Evaluate(IRatingPredictor predictor, IEnumerable<UserTask> tasks, Models.RatingDecoder? decoder = null)
    {
        ArgumentNullException.ThrowIfNull(predictor);
        ArgumentNullException.ThrowIfNull(tasks);
        var accumulator = new MetricAccumulator();
        foreach (var task in tasks)
        {
            var predicted = predictor.Predict(task);
            var actual = new float[task.Query.Count];
            for (var i = 0; i < actual.Length; i++)
            {
                actual[i] = task.Query[i].Value;
            }

            var stars = decoder is null ? predicted : Array.ConvertAll(predicted, decoder.Decode);
            accumulator.AddUser(stars, predicted, actual, predicted);
        }

        return accumulator.Result();
    }
}

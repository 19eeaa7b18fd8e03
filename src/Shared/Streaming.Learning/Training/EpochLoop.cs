using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;

namespace Streaming.Learning.Training;

/// <summary>How <see cref="EpochLoop.Run"/> trains.</summary>
/// <param name="Epochs">Most epochs.</param>
/// <param name="Patience">Epochs without a better validation MAE before stopping.</param>
/// <param name="PlateauDecay">Learning-rate factor after an epoch without improvement (1: off).</param>
/// <param name="Budget">Stop before an epoch that would end past this much time since <paramref name="Started"/> (null: no budget).</param>
/// <param name="Started">The training's start timestamp (<see cref="TimeProvider.GetTimestamp"/>).</param>
internal sealed record EpochLoopSettings(int Epochs, int Patience, double PlateauDecay, TimeSpan? Budget, long Started);

/// <summary>What <see cref="EpochLoop.Run"/> did; <see cref="Best"/> holds the best epoch's weights (the network holds the last).</summary>
internal sealed record EpochLoopResult(
    List<EpochRecord> History,
    IReadOnlyList<StoredParameter>? Best,
    PartitionMetrics? BestMetrics,
    int BestEpoch,
    long TrainedTasks,
    double TrainingSeconds,
    bool BudgetExhausted,
    string? Diverged);

/// <summary>
/// The outer loop of <see cref="MetaTraining"/>: each epoch
/// draws its tasks, trains on support-size bucketed meta-batches, evaluates on the validation users, keeps the
/// best weights by validation MAE and stops early; a non-finite loss stops it and is reported.
/// </summary>
internal static class EpochLoop
{
    /// <param name="learner">The outer-loop optimiser over the model being trained.</param>
    /// <param name="settings">Epochs, patience, learning-rate decay, time budget.</param>
    /// <param name="tasksOf">The training tasks of an epoch (1-based).</param>
    /// <param name="toBatch">Builds a meta-batch's tensors.</param>
    /// <param name="validation">Prepared validation batches.</param>
    /// <param name="stepWeights">The multi-step loss weights of an epoch (LSLR), or null.</param>
    /// <param name="random">Shuffles the meta-batches.</param>
    /// <param name="time">Clock for timings and the budget.</param>
    /// <param name="progress">Per-batch and per-epoch progress.</param>
    /// <param name="onImproved">Called with the epoch and its metrics when validation improved (checkpoints).</param>
    /// <param name="cancellationToken">Stops after the current batch.</param>
    public static EpochLoopResult Run(
        MetaLearner learner,
        EpochLoopSettings settings,
        Func<int, IReadOnlyList<UserTask>> tasksOf,
        Func<IReadOnlyList<UserTask>, TaskBatch> toBatch,
        IEnumerable<TaskBatch> validation,
        Func<int, float[]?> stepWeights,
        Random random,
        TimeProvider time,
        IProgress<TrainingProgress>? progress,
        Action<int, PartitionMetrics>? onImproved,
        CancellationToken cancellationToken)
    {
        var history = new List<EpochRecord>();
        IReadOnlyList<StoredParameter>? best = null;
        PartitionMetrics? bestMetrics = null;
        int bestEpoch = 0;
        long trainedTasks = 0;
        double trainingSeconds = 0, longestEpoch = 0;
        bool budgetExhausted = false;
        string? diverged = null;
        int steps = learner.Module.Hyper.InnerSteps;

        for (int epoch = 1; epoch <= settings.Epochs && diverged is null && !cancellationToken.IsCancellationRequested; epoch++)
        {
            if (epoch > 1 && settings.Budget is { } budget && time.GetElapsedTime(settings.Started).TotalSeconds + longestEpoch > budget.TotalSeconds)
            {
                budgetExhausted = true;
                break;
            }

            var epochStart = time.GetTimestamp();
            var batches = MetaTraining.MakeBatches(tasksOf(epoch), learner.Module.Hyper.MetaBatchSize, random);
            var weights = stepWeights(epoch);
            double lossSum = 0;
            int trainedBatches = 0;
            for (int b = 0; b < batches.Count && !cancellationToken.IsCancellationRequested; b++)
            {
                using var batch = toBatch(batches[b]);
                double loss = learner.TrainStep(batch, weights);
                if (!double.IsFinite(loss))
                {
                    diverged = $"meta-training diverged at epoch {epoch}, batch {b + 1} (loss {loss})";
                    break;
                }

                lossSum += loss;
                trainedBatches++;
                trainedTasks += batches[b].Count;
                progress?.Report(new TrainingProgress(epoch, settings.Epochs, b + 1, batches.Count, lossSum / trainedBatches, null, false));
            }

            trainingSeconds += time.GetElapsedTime(epochStart).TotalSeconds;
            if (diverged is not null)
            {
                break;
            }

            var metrics = MetaTraining.Evaluate(learner, validation, steps);
            double seconds = time.GetElapsedTime(epochStart).TotalSeconds;
            longestEpoch = Math.Max(longestEpoch, seconds);
            bool improved = double.IsFinite(metrics.Mae) && (bestMetrics is null || metrics.Mae < bestMetrics.Mae);
            history.Add(new EpochRecord(epoch, lossSum / Math.Max(1, trainedBatches), metrics, seconds));
            if (improved)
            {
                best = Weights.Snapshot(learner.Module);
                bestMetrics = metrics;
                bestEpoch = epoch;
                onImproved?.Invoke(epoch, metrics);
            }

            progress?.Report(new TrainingProgress(epoch, settings.Epochs, batches.Count, batches.Count, lossSum / Math.Max(1, trainedBatches), metrics, improved));
            if (!improved && settings.PlateauDecay != 1.0)
            {
                learner.ScaleLearningRate(settings.PlateauDecay);
            }

            if (epoch - bestEpoch >= settings.Patience)
            {
                break;
            }
        }

        return new EpochLoopResult(history, best, bestMetrics, bestEpoch, trainedTasks, trainingSeconds, budgetExhausted, diverged);
    }
}

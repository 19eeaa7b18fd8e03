using Streaming.Shared.Data;

namespace Streaming.Learning.Networks;

/// <summary>
/// What a network that fits part of itself in closed form from the training data is given, once, before
/// meta-training (<see cref="ITrainingDataFit"/>): the training users' tasks (their interactions: support and query),
/// the validation users' tasks (for choosing the closed form's own hyper-parameters, never trained on), and the
/// catalogue in the row order of the training tensors.
/// </summary>
/// <param name="Train">The training users' tasks of the first epoch.</param>
/// <param name="Validation">The validation users' tasks.</param>
/// <param name="Catalogue">The encoded catalogue (row order of <c>EmbedItems</c>).</param>
public sealed record TrainingDataFit(IReadOnlyList<UserTask> Train, IReadOnlyList<UserTask> Validation, ItemFeatureTable Catalogue)
{
    /// <summary>
    /// Every interaction of the training users a closed-form part may learn from (<see cref="Training.TaskSource.Interactions"/>):
    /// the training tasks' ratings unless given; from a data folder, all the training users' existing-item ratings.
    /// </summary>
    public IReadOnlyList<Rating> Interactions { get; init; } = [.. Train.SelectMany(t => t.Support.Concat(t.Query))];
}

/// <summary>
/// An optional seam of <see cref="MetaNetwork"/>: a network with a closed-form part (an EASE item-item layer, say)
/// fits it here. <see cref="Training.MetaTraining"/> calls <see cref="Fit"/> once when training from scratch, after
/// the network is on its device and before the first meta-update (a warm start keeps the parent's fit). What it fits
/// must be stored as parameters (frozen ones with <c>requires_grad</c> false) so that the model file keeps it.
/// </summary>
public interface ITrainingDataFit
{
    /// <summary>Fits the closed-form part; returns one line for logs and reports (what was chosen).</summary>
    string Fit(TrainingDataFit data);
}

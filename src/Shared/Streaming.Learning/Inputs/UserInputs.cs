using static TorchSharp.torch;

namespace Streaming.Learning.Inputs;

/// <summary>
/// What a network may read about a batch of users (<see cref="Networks.NetworkInputs"/>): the encoded profile
/// [users, 4] (gender, age, occupation, zip), and the ordered interaction history as catalogue rows [users, length]
/// with its mask (oldest first; in the service, by event time with ties in arrival order, bounded by
/// <c>Sessions:MaxHistory</c>), and the history's ratings [users, length] where they are known (null: not known, as in
/// plain regression, where the history is the rated item itself and its rating is the target).
/// </summary>
public sealed record UserInputs(Tensor Profile, Tensor HistoryRows, Tensor HistoryMask, Tensor? HistoryRatings = null);

/// <summary>Ratings to fit, [users, positions], and the mask of real positions (0 at padding).</summary>
public sealed record SupportTargets(Tensor Ratings, Tensor Mask);

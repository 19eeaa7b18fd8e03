namespace Streaming.Learning.Networks;

/// <summary>
/// An optional seam of <see cref="MetaNetwork"/>: a served list that adds parts whose balance meta-training sets for
/// its own objective (a catalogue softmax's likelihood, which rewards spreading probability over every liked item),
/// not for the top of the list that a user is shown. After meta-training, <see cref="Training.ServedListCalibration"/>
/// tries each of <see cref="ServedWeights"/> on the validation users' served lists (never trained on) and keeps the
/// one with the best recall@20. The weight changes serving only (<see cref="MetaNetwork.ScoreCatalogue"/>), never
/// the inner loop, and is stored with the weights.
/// </summary>
public interface IServedListCalibration
{
    /// <summary>The weights to try, the neutral one (the meta-trained list) first.</summary>
    IReadOnlyList<double> ServedWeights { get; }

    /// <summary>The weight the served list uses now.</summary>
    double ServedWeight { get; set; }
}

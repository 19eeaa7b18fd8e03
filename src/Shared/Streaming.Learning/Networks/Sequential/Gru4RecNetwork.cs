using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Learning.Networks.Sequential;

/// <summary>
/// GRU4Rec (Hidasi et al., ICLR 2016) as a meta-learning base network: a one-layer GRU reads the user's ordered history
/// (item vector plus rating embedding per position) and its state after the last interaction is the sequence vector.
/// </summary>
public sealed class Gru4RecNetwork : SequentialNetwork
{
    /// <summary>The name this network is registered under (<c>--encoder gru4rec</c>).</summary>
    public const string Name = "gru4rec";

    private readonly GRU gru;

    /// <summary>Creates a network with freshly initialised parameters (uses the global torch seed).</summary>
    /// <param name="hyper">Shapes and scope.</param>
    /// <param name="vocabularySizes">Sizes of the eight vocabularies (rate, genre, director, actor, gender, age, occupation, zip).</param>
    public Gru4RecNetwork(Hyperparameters hyper, IReadOnlyList<int> vocabularySizes) : base(Name, hyper, vocabularySizes)
    {
        gru = nn.GRU(ModelDim, ModelDim, batchFirst: true);
        register_module("gru", gru);
    }

    /// <inheritdoc />
    protected override Tensor EncodeSequence(Tensor positions, Tensor mask)
    {
        // Padding sits after the last real position, so the outputs up to it are those of the real history alone.
        var (outputs, _) = gru.call(positions, null);
        return LastPosition(outputs, mask);
    }
}

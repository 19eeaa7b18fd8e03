using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Streaming.Learning.Networks.Sequential;

/// <summary>
/// SASRec (Kang and McAuley, ICDM 2018) as a meta-learning base network: learned position embeddings, two blocks of
/// causal single-head self-attention and a feed-forward layer (post-norm, residual), and the output at the last
/// interaction as the sequence vector. No dropout: the meta-batches are small and the query loss regularises.
/// </summary>
public sealed class SasRecNetwork : SequentialNetwork
{
    /// <summary>The name this network is registered under (<c>--encoder sasrec</c>).</summary>
    public const string Name = "sasrec";

    /// <summary>
    /// Positions with their own embedding; later ones share the last (the service keeps at most
    /// <c>Sessions:MaxHistory</c>, 100 by default, and the protocol's support sets hold at most 90).
    /// </summary>
    public const int MaxPositions = 128;

    private const int Blocks = 2;

    private readonly Embedding position;
    private readonly ModuleList<Linear> query;
    private readonly ModuleList<Linear> key;
    private readonly ModuleList<Linear> value;
    private readonly ModuleList<LayerNorm> attention_norm;
    private readonly ModuleList<Linear> ffn_in;
    private readonly ModuleList<Linear> ffn_out;
    private readonly ModuleList<LayerNorm> ffn_norm;

    /// <summary>Creates a network with freshly initialised parameters (uses the global torch seed).</summary>
    /// <param name="hyper">Shapes and scope.</param>
    /// <param name="vocabularySizes">Sizes of the eight vocabularies (rate, genre, director, actor, gender, age, occupation, zip).</param>
    public SasRecNetwork(Hyperparameters hyper, IReadOnlyList<int> vocabularySizes) : base(Name, hyper, vocabularySizes)
    {
        int d = ModelDim;
        position = nn.Embedding(MaxPositions, d);
        using (no_grad())
        {
            nn.init.normal_(position.weight!, 0, 0.1);
        }

        query = new ModuleList<Linear>([.. Enumerable.Range(0, Blocks).Select(_ => nn.Linear(d, d))]);
        key = new ModuleList<Linear>([.. Enumerable.Range(0, Blocks).Select(_ => nn.Linear(d, d))]);
        value = new ModuleList<Linear>([.. Enumerable.Range(0, Blocks).Select(_ => nn.Linear(d, d))]);
        attention_norm = new ModuleList<LayerNorm>([.. Enumerable.Range(0, Blocks).Select(_ => nn.LayerNorm(d))]);
        ffn_in = new ModuleList<Linear>([.. Enumerable.Range(0, Blocks).Select(_ => nn.Linear(d, d))]);
        ffn_out = new ModuleList<Linear>([.. Enumerable.Range(0, Blocks).Select(_ => nn.Linear(d, d))]);
        ffn_norm = new ModuleList<LayerNorm>([.. Enumerable.Range(0, Blocks).Select(_ => nn.LayerNorm(d))]);
        register_module("position", position);
        register_module("query", query);
        register_module("key", key);
        register_module("value", value);
        register_module("attention_norm", attention_norm);
        register_module("ffn_in", ffn_in);
        register_module("ffn_out", ffn_out);
        register_module("ffn_norm", ffn_norm);
    }

    /// <inheritdoc />
    protected override Tensor EncodeSequence(Tensor positions, Tensor mask)
    {
        long length = positions.shape[1];
        var device = positions.device;
        Tensor index = arange(length, device: device).clamp_max(MaxPositions - 1);
        Tensor x = (positions + position.call(index).unsqueeze(0)) * mask.unsqueeze(-1);

        // Position i attends to j <= i among real positions: causal, so a position never sees the interactions after
        // it, and the order of the history changes the result.
        Tensor causal = ones(length, length, device: device).tril().unsqueeze(0);
        Tensor allowed = (causal * mask.unsqueeze(1)).gt(0);
        double scale = 1.0 / Math.Sqrt(ModelDim);
        for (int block = 0; block < Blocks; block++)
        {
            Tensor scores = query[block].call(x).matmul(key[block].call(x).transpose(1, 2)) * scale;
            Tensor weights = softmax(scores.masked_fill(allowed.logical_not(), -1e9), -1);
            x = attention_norm[block].call(x + weights.matmul(value[block].call(x)));
            x = ffn_norm[block].call(x + ffn_out[block].call(nn.functional.relu(ffn_in[block].call(x))));
            x = x * mask.unsqueeze(-1);
        }

        return LastPosition(x, mask);
    }
}

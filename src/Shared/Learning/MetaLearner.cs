using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace Streaming.Shared.Learning;

/// <summary>
/// The outer loop (MeLU's global update): adapt every user of a meta-batch on their support set, average
/// the query losses, and step all meta-parameters (embeddings, the initial decision weights, learned inner
/// rates) with Adam. Also predicts query sets for evaluation. Not thread-safe.
/// </summary>
public sealed class MetaLearner : IDisposable
{
    private readonly optim.Optimizer optimizer;

    /// <summary>Creates a learner over <paramref name="network"/> and a catalogue on the same device.</summary>
    public MetaLearner(MeluNetwork network, ItemFeatureTensors items, bool firstOrder)
    {
        ArgumentNullException.ThrowIfNull(network);
        Network = network;
        Items = items;
        SecondOrder = !firstOrder && network.Hyper.Algorithm != MetaAlgorithm.FoMaml;
        optimizer = optim.Adam(network.parameters(), network.Hyper.MetaLearningRate);
    }

    public MeluNetwork Network { get; }

    public ItemFeatureTensors Items { get; }

    /// <summary>Whether the meta-gradient flows through the inner-loop gradients.</summary>
    public bool SecondOrder { get; }

    /// <summary>Maximum global norm of the meta-gradient; keeps learned inner rates from blowing up.</summary>
    public double GradientClip { get; init; } = 10.0;

    /// <summary>
    /// One meta-update on a batch. <paramref name="stepWeights"/> (MAML++ multi-step loss) weighs the query
    /// loss after each inner step; null uses the loss after the last step only.
    /// </summary>
    /// <returns>The outer (query) loss before the update.</returns>
    public float TrainStep(TaskBatch batch, IReadOnlyList<float>? stepWeights = null)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        Network.train();
        optimizer.zero_grad();
        var (support, query, users) = Embed(batch);
        int steps = Network.Hyper.InnerSteps;
        Tensor loss;
        if (stepWeights is not null && steps > 0)
        {
            Tensor total = zeros(1, device: users.device);
            InnerLoop.Adapt(Network, support, users, batch.SupportRatings, batch.SupportMask, steps, SecondOrder, (step, fast) =>
            {
                if (stepWeights[step] > 0)
                {
                    total += stepWeights[step] * QueryLoss(query, users, batch, fast);
                }
            });
            loss = total;
        }
        else
        {
            var fast = InnerLoop.Adapt(Network, support, users, batch.SupportRatings, batch.SupportMask, steps, SecondOrder);
            loss = QueryLoss(query, users, batch, fast);
        }

        loss.backward();
        nn.utils.clip_grad_norm_(Network.parameters(), GradientClip);
        optimizer.step();
        return loss.item<float>();
    }

    /// <summary>Adapts on the support sets with <paramref name="steps"/> local steps and predicts the query sets: [users, max query].</summary>
    public Tensor PredictQuery(TaskBatch batch, int steps)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Network.eval();
        var (support, query, users) = Embed(batch);
        var fast = InnerLoop.Adapt(Network, support, users, batch.SupportRatings, batch.SupportMask, steps, secondOrder: false);
        return Network.Decide(query, users, fast).Prediction.MoveToOuterDisposeScope();
    }

    /// <summary>Adds every user of the batch to <paramref name="metrics"/>, predicting with <paramref name="steps"/> local steps.</summary>
    public void Evaluate(TaskBatch batch, int steps, MetricAccumulator metrics)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(metrics);
        using var scope = NewDisposeScope();
        var predicted = PredictQuery(batch, steps).cpu().data<float>().ToArray();
        var actual = batch.QueryRatings.cpu().data<float>().ToArray();
        var counts = batch.QueryMask.sum(1).cpu().data<float>().ToArray();
        int width = (int)batch.QueryRatings.shape[1];
        for (int u = 0; u < batch.Count; u++)
        {
            int n = (int)counts[u];
            if (n > 0)
            {
                // A rating is never outside the scale: clamp for MAE / RMSE, rank by the raw scores.
                var raw = predicted.AsSpan(u * width, n);
                var clamped = new float[n];
                for (int i = 0; i < n; i++)
                {
                    clamped[i] = Math.Clamp(raw[i], Rating.MinValue, Rating.MaxValue);
                }

                metrics.AddUser(clamped, actual.AsSpan(u * width, n), raw);
            }
        }
    }

    /// <summary>Multiplies the outer learning rate by <paramref name="factor"/> (reduce-on-plateau).</summary>
    public void ScaleLearningRate(double factor)
    {
        foreach (var group in optimizer.ParamGroups)
        {
            group.LearningRate *= factor;
        }
    }

    /// <inheritdoc />
    public void Dispose() => optimizer.Dispose();

    private (Tensor Support, Tensor Query, Tensor Users) Embed(TaskBatch batch)
    {
        // All catalogue embeddings once per batch (a few thousand rows), then gathered per position.
        Tensor all = Network.EmbedItems(Items);
        Tensor support = all.index_select(0, batch.SupportRows.flatten()).reshape(batch.SupportRows.shape[0], batch.SupportRows.shape[1], -1);
        Tensor query = all.index_select(0, batch.QueryRows.flatten()).reshape(batch.QueryRows.shape[0], batch.QueryRows.shape[1], -1);
        return (support, query, Network.EmbedUsers(batch.Profile));
    }

    private Tensor QueryLoss(Tensor query, Tensor users, TaskBatch batch, FastWeights fast) =>
        InnerLoop.UserLoss(Network.Decide(query, users, fast).Prediction, batch.QueryRatings, batch.QueryMask).mean();
}

using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using static TorchSharp.torch;

namespace Streaming.Learning.Training;

/// <summary>
/// The outer loop (MeLU's global update): adapt every user of a meta-batch on their support set, average
/// the query losses, and step all meta-parameters (the network's shared weights and the method's own: learned
/// inner rates, a learned loss) with Adam. Also predicts query sets for evaluation. Not thread-safe.
/// </summary>
public sealed class MetaLearner : IDisposable
{
    private readonly optim.Optimizer optimizer;

    /// <summary>Creates a learner over <paramref name="module"/> and a catalogue on the same device.</summary>
    public MetaLearner(MetaModule module, ItemFeatureTensors items, bool firstOrder)
    {
        ArgumentNullException.ThrowIfNull(module);
        Module = module;
        Items = items;
        SecondOrder = !firstOrder && module.Method.SecondOrder;
        optimizer = optim.Adam(module.parameters(), module.Hyper.MetaLearningRate);
    }

    public MetaModule Module { get; }

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
        Module.train();
        optimizer.zero_grad();
        var (support, query, users) = Embed(batch);
        int steps = Module.Hyper.InnerSteps;
        Tensor loss;
        FastWeights adapted;
        if (stepWeights is not null && steps > 0)
        {
            Tensor total = zeros(1, device: users.device);
            adapted = Module.Adapt(support, users, batch.SupportTargets, steps, SecondOrder, (step, fast) =>
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
            adapted = Module.Adapt(support, users, batch.SupportTargets, steps, SecondOrder);
            loss = QueryLoss(query, users, batch, adapted);
        }

        loss.backward();
        nn.utils.clip_grad_norm_(Module.parameters(), GradientClip);
        optimizer.step();
        // After the step: state the method writes (MAMO's memories) is read by this batch's graph, so it may change only now.
        using (no_grad())
        {
            Module.Method.AfterTrainingStep(Module, users.detach(), adapted.Select((_, t) => t.detach()));
        }

        return loss.item<float>();
    }

    /// <summary>Adapts on the support sets with <paramref name="steps"/> local steps and predicts the query sets: [users, max query].</summary>
    public Tensor PredictQuery(TaskBatch batch, int steps)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Module.eval();
        var (support, query, users) = Embed(batch);
        var fast = Module.Adapt(support, users, batch.SupportTargets, steps, secondOrder: false);
        return Module.Network.Forward(query, users, fast).Prediction.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Adds every user of the batch to <paramref name="metrics"/>, predicting with <paramref name="steps"/> local steps:
    /// MAE on the stars <paramref name="decoder"/> reads off the expected ratings (on the expected ratings without one),
    /// RMSE on the expected ratings, nDCG@3 on the raw scores.
    /// </summary>
    public void Evaluate(TaskBatch batch, int steps, MetricAccumulator metrics, RatingDecoder? decoder = null)
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
                // A rating is never outside the scale: clamp the expected ratings, rank by the raw scores.
                var raw = predicted.AsSpan(u * width, n);
                var expected = new float[n];
                for (int i = 0; i < n; i++)
                {
                    expected[i] = Math.Clamp(raw[i], Rating.MinValue, Rating.MaxValue);
                }

                var stars = decoder is null ? expected : Array.ConvertAll(expected, decoder.Decode);
                metrics.AddUser(stars, expected, actual.AsSpan(u * width, n), raw);
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
        var network = Module.Network;
        Tensor all = network.EmbedItems(Items);
        Tensor support = Gather(all, batch.SupportRows);
        Tensor query = Gather(all, batch.QueryRows);
        return (support, query, network.EncodeUsers(batch.Users, all));
    }

    private static Tensor Gather(Tensor all, Tensor rows) =>
        all.index_select(0, rows.flatten()).reshape(rows.shape[0], rows.shape[1], -1);

    private Tensor QueryLoss(Tensor query, Tensor users, TaskBatch batch, FastWeights fast) =>
        Module.OuterLoss.PerUser(Module.Network.Forward(query, users, fast), batch.QueryTargets).mean();
}

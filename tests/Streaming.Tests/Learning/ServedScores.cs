using Streaming.Learning.Inputs;
using Streaming.Learning.Models;
using Streaming.Shared.Data;
using static TorchSharp.torch;

namespace Streaming.Tests.Learning;

/// <summary>
/// A model's served list scores as a <see cref="Streaming.Shared.Evaluation.TopN.TopNEvaluator"/> scoring delegate:
/// the serving path of <see cref="Streaming.Learning.Serving.BatchRecommender"/> (adapt a batch of users on their
/// support sets, no autograd graph, then <c>ScoreCatalogue</c>), restricted to the candidates' columns.
/// </summary>
internal sealed class ServedScores : IDisposable
{
    private readonly MetaModel model;
    private readonly IReadOnlyDictionary<int, UserProfile> profiles;
    private readonly ItemFeatureTensors items;
    private readonly Streaming.Learning.Networks.PreparedCatalogue prepared;
    private readonly int steps;

    public ServedScores(MetaModel model, IReadOnlyDictionary<int, ItemInfo> catalogue, IReadOnlyDictionary<int, UserProfile> profiles, int steps)
    {
        this.model = model;
        this.profiles = profiles;
        this.steps = steps;
        Table = model.Features.EncodeItems(catalogue.Values.OrderBy(i => i.ItemId));
        items = new ItemFeatureTensors(Table, model.Module.Device);
        model.Module.eval();
        prepared = model.Network.PrepareCatalogue(items);
    }

    public ItemFeatureTable Table { get; }

    /// <summary>Row-major [users x candidates] list scores; the users' query sets are never read.</summary>
    public float[] Score(IReadOnlyList<UserTask> users, IReadOnlyList<int> candidates)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var supportOnly = users.Select(t => new UserTask(t.UserId, t.Support, [])).ToArray();
        using var batch = TaskBatch.Create(supportOnly, Table, model.Features, profiles, model.Module.Device);
        var encoded = model.Network.EncodeUsers(batch.Users, prepared.Embeddings);
        var support = prepared.Embeddings.index_select(0, batch.SupportRows.flatten()).reshape(batch.SupportRows.shape[0], batch.SupportRows.shape[1], -1);
        var fast = model.Module.Adapt(support, encoded, batch.SupportTargets, steps, secondOrder: false);
        var columns = candidates.Select(id => Table.TryGetRow(id, out int row) ? (long)row : throw new ArgumentException($"candidate {id} is not in the catalogue")).ToArray();
        var scores = model.Network.ScoreCatalogue(prepared, encoded, fast).index_select(1, tensor(columns));
        return scores.contiguous().cpu().data<float>().ToArray();
    }

    public void Dispose()
    {
        prepared.Dispose();
        items.Dispose();
    }
}

using Streaming.Shared.Data;
using static TorchSharp.torch;

namespace Streaming.Learning.Training;

/// <summary>
/// The non-meta baseline: the same network trained by ordinary regression on every training rating
/// (no inner loop), to be fine-tuned per user afterwards. It answers "does meta-learning help at all?".
/// </summary>
public static class PlainTraining
{
    /// <summary>Trains <paramref name="network"/> on <paramref name="ratings"/> with Adam and mean squared error.</summary>
    public static void Train(
        MetaNetwork network,
        ItemFeatureTensors items,
        FeatureSpace features,
        IReadOnlyDictionary<int, UserProfile> profiles,
        IReadOnlyList<Rating> ratings,
        int epochs,
        int seed,
        int batchSize = 1024,
        float learningRate = 1e-3f)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(profiles);
        ArgumentNullException.ThrowIfNull(ratings);
        var device = items.Rate.device;
        var usable = ratings.Where(r => items.Table.TryGetRow(r.ItemId, out _)).ToArray();
        var profileCache = new Dictionary<int, long[]>();
        var random = new Random(seed);
        using var optimizer = optim.Adam(network.parameters(), learningRate);
        network.train();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            random.Shuffle(usable);
            foreach (var chunk in usable.Chunk(batchSize))
            {
                using var scope = NewDisposeScope();
                var rows = new long[chunk.Length];
                var profile = new long[chunk.Length * 4];
                var target = new float[chunk.Length];
                for (int i = 0; i < chunk.Length; i++)
                {
                    items.Table.TryGetRow(chunk[i].ItemId, out int row);
                    rows[i] = row;
                    target[i] = chunk[i].Value;
                    if (!profileCache.TryGetValue(chunk[i].UserId, out var encoded))
                    {
                        encoded = features.EncodeUser(profiles.GetValueOrDefault(chunk[i].UserId) ?? UserProfile.Unknown);
                        profileCache[chunk[i].UserId] = encoded;
                    }

                    encoded.CopyTo(profile, i * 4);
                }

                optimizer.zero_grad();
                Tensor all = network.EmbedItems(items);
                Tensor rowTensor = tensor(rows, device: device);
                Tensor itemEmbeddings = all.index_select(0, rowTensor).unsqueeze(1);
                // Each rating on its own: the item is the whole history a sequence-reading network would see.
                var inputs = new UserInputs(tensor(profile, device: device).reshape(chunk.Length, 4), rowTensor.unsqueeze(1), ones(chunk.Length, 1, device: device));
                Tensor users = network.EncodeUsers(inputs, all);
                Tensor prediction = network.Forward(itemEmbeddings, users, FastWeights.None).Prediction.squeeze(1);
                Tensor loss = (prediction - tensor(target, device: device)).square().mean();
                loss.backward();
                optimizer.step();
            }
        }

        network.eval();
    }
}

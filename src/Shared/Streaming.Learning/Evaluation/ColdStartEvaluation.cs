using System.Text.Json.Serialization;
using Streaming.Shared.Data;
using Streaming.Shared.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

using Streaming.Learning.Training;

namespace Streaming.Learning.Evaluation;

/// <summary>Settings of a cold-start evaluation.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Local steps; null uses the model's own.</summary>
    public int? Steps { get; init; }

    /// <summary>Seeds the protocol's per-user shuffles and the plain baseline.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Evaluate every user of the data set, even when it is the model's own training data.</summary>
    public bool AllUsers { get; init; }

    /// <summary>Epochs of the plain (non-meta) baseline network.</summary>
    public int PlainEpochs { get; init; } = 8;

    /// <summary>Inner rates tried when fine-tuning the plain baseline; the best on validation users is used.</summary>
    public IReadOnlyList<float> PlainFineTuneRates { get; init; } = [0.003f, 0.01f, 0.03f, 0.1f];

    public ProtocolOptions Protocol { get; init; } = new();
}

/// <summary>Metrics of one method on the two cold-start partitions.</summary>
public sealed record PartitionPair(
    [property: JsonPropertyName("existing_items_new_users")] PartitionMetrics ExistingItemsNewUsers,
    [property: JsonPropertyName("new_items_new_users")] PartitionMetrics NewItemsNewUsers);

/// <summary>The result of <c>streaming eval</c>: the model and every baseline, measured in the same run.</summary>
public sealed record EvaluationReport
{
    [JsonPropertyName("model")]
    public required string Model { get; init; }

    [JsonPropertyName("algorithm")]
    public required string Algorithm { get; init; }

    [JsonPropertyName("scope")]
    public required string Scope { get; init; }

    [JsonPropertyName("steps")]
    public required int Steps { get; init; }

    /// <summary>Which users were treated as new users, in words.</summary>
    [JsonPropertyName("users")]
    public required string Users { get; init; }

    [JsonPropertyName("existing_items_new_users")]
    public required PartitionMetrics ExistingItemsNewUsers { get; init; }

    [JsonPropertyName("new_items_new_users")]
    public required PartitionMetrics NewItemsNewUsers { get; init; }

    /// <summary>Baselines by name: global_mean, item_mean, support_mean, meta_init_no_adaptation, plain_network_finetuned.</summary>
    [JsonPropertyName("baselines")]
    public required IReadOnlyDictionary<string, PartitionPair> Baselines { get; init; }

    [JsonPropertyName("plain_finetune_rate")]
    public float PlainFineTuneRate { get; init; }

    [JsonPropertyName("seconds")]
    public double Seconds { get; init; }
}

/// <summary>
/// The MeLU evaluation protocol (<c>shared/datasets/ml-1m/README.md</c>) on users treated as brand-new:
/// "existing items for new users" and "new items for new users", for the meta-model and its baselines.
/// </summary>
public static class ColdStartEvaluation
{
    private const int BatchSize = 256;

    /// <summary>Evaluates <paramref name="model"/> on <paramref name="data"/>.</summary>
    /// <remarks>
    /// When <paramref name="data"/> is the model's training data (same fingerprint), only the held-out test users
    /// of its recorded split are evaluated and the baselines learn from the same training users as the model;
    /// otherwise every user is new and the baselines learn from the evaluated users' support sets.
    /// </remarks>
    public static EvaluationReport Run(MetaModel model, string modelName, RatingsDataset data, EvaluationOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        var started = time.GetTimestamp();
        var record = model.Manifest.Training;
        var device = model.Module.Device;
        int steps = options.Steps ?? model.Module.Hyper.InnerSteps;
        var protocol = options.Protocol;

        bool ownData = !options.AllUsers && record.DataFingerprint == RatingsFingerprint.Of(data);
        IReadOnlyList<int> evalUsers;
        IReadOnlyList<int> validationUsers = [];
        Rating[] trainingRatings;
        string usersText;
        var allUsers = data.Ratings.Select(r => r.UserId).Distinct().ToArray();
        if (ownData)
        {
            var split = MeluProtocol.SplitUsers(allUsers, record.ValidationFraction, record.TestFraction, record.SplitSeed);
            evalUsers = split.Test;
            validationUsers = split.Validation;
            trainingRatings = MeluProtocol.WarmStateTasks(data, split.Train, record.Seed, protocol).SelectMany(t => t.Support.Concat(t.Query)).ToArray();
            usersText = $"held-out test users of the model's training split ({split.Test.Count} users, never seen in training)";
        }
        else
        {
            evalUsers = allUsers.Order().ToArray();
            usersText = $"every user of {data.Source} ({evalUsers.Count} users)";
            trainingRatings = [];
        }

        var existing = MeluProtocol.ExistingItemsTasks(data, evalUsers, options.Seed, protocol);
        var fresh = MeluProtocol.NewItemsTasks(data, evalUsers, options.Seed, protocol);
        if (!ownData)
        {
            // Nothing else is known about these items: the baselines may only learn from what the users disclosed.
            trainingRatings = existing.Concat(fresh).SelectMany(t => t.Support).ToArray();
        }

        var table = model.Features.EncodeItems(data.Items.Values.OrderBy(i => i.ItemId));
        using var items = new ItemFeatureTensors(table, device);
        using var learner = new MetaLearner(model.Module, items, firstOrder: true);
        var existingBatches = TaskBatch.CreateMany(existing, BatchSize, table, model.Features, data.Users, device);
        var freshBatches = TaskBatch.CreateMany(fresh, BatchSize, table, model.Features, data.Users, device);

        var globalMean = new GlobalMeanPredictor(trainingRatings.Length > 0 ? trainingRatings : data.Ratings);
        IRatingPredictor[] simple =
        [
            globalMean,
            new ItemMeanPredictor(trainingRatings.Length > 0 ? trainingRatings : data.Ratings),
            new SupportMeanPredictor(globalMean.Mean),
        ];
        var baselines = new Dictionary<string, PartitionPair>(StringComparer.Ordinal);
        foreach (var predictor in simple)
        {
            baselines[predictor.Name] = new PartitionPair(Evaluator.Evaluate(predictor, existing), Evaluator.Evaluate(predictor, fresh));
        }

        baselines["meta_init_no_adaptation"] = new PartitionPair(
            MetaTraining.Evaluate(learner, existingBatches, 0), MetaTraining.Evaluate(learner, freshBatches, 0));

        var ours = new PartitionPair(MetaTraining.Evaluate(learner, existingBatches, steps), MetaTraining.Evaluate(learner, freshBatches, steps));

        var (plain, rate) = PlainBaseline(model, items, table, data, ownData ? trainingRatings : existing.SelectMany(t => t.Support).ToArray(), validationUsers, existingBatches, freshBatches, steps, options);
        baselines["plain_network_finetuned"] = plain;

        foreach (var b in existingBatches.Concat(freshBatches))
        {
            b.Dispose();
        }

        return new EvaluationReport
        {
            Model = modelName,
            Algorithm = model.Module.Hyper.Method,
            Scope = model.Module.Hyper.Scope.ToString().ToLowerInvariant(),
            Steps = steps,
            Users = usersText,
            ExistingItemsNewUsers = ours.ExistingItemsNewUsers,
            NewItemsNewUsers = ours.NewItemsNewUsers,
            Baselines = baselines,
            PlainFineTuneRate = rate,
            Seconds = time.GetElapsedTime(started).TotalSeconds,
        };
    }

    private static (PartitionPair Metrics, float Rate) PlainBaseline(
        MetaModel model,
        ItemFeatureTensors items,
        ItemFeatureTable table,
        RatingsDataset data,
        IReadOnlyList<Rating> trainingRatings,
        IReadOnlyList<int> validationUsers,
        List<TaskBatch> existingBatches,
        List<TaskBatch> freshBatches,
        int steps,
        EvaluationOptions options)
    {
        manual_seed(options.Seed);
        var hyper = model.Module.Hyper with { Method = new Maml().Name, Scope = FastWeightScope.All };
        using var plain = new MetaModule(hyper, model.Features);
        plain.to(items.Rate.device);
        PlainTraining.Train(plain.Network, items, model.Features, data.Users, trainingRatings, options.PlainEpochs, options.Seed);
        var rates = (FixedRate)plain.Rates;
        using var learner = new MetaLearner(plain, items, firstOrder: true);

        // Fine-tuning rate: the best on validation users when there are any (never on the evaluated users).
        float best = options.PlainFineTuneRates[0];
        var validation = MeluProtocol.WarmStateTasks(data, validationUsers, options.Seed, options.Protocol);
        if (validation.Count > 0 && options.PlainFineTuneRates.Count > 1)
        {
            var validationBatches = TaskBatch.CreateMany(validation, BatchSize, table, model.Features, data.Users, items.Rate.device);
            double bestMae = double.MaxValue;
            foreach (float rate in options.PlainFineTuneRates)
            {
                rates.Value = rate;
                double mae = MetaTraining.Evaluate(learner, validationBatches, steps).Mae;
                if (mae < bestMae)
                {
                    (bestMae, best) = (mae, rate);
                }
            }

            validationBatches.ForEach(b => b.Dispose());
        }

        rates.Value = best;
        return (new PartitionPair(MetaTraining.Evaluate(learner, existingBatches, steps), MetaTraining.Evaluate(learner, freshBatches, steps)), best);
    }
}

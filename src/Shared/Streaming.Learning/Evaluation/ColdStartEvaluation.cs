using System.Text.Json.Serialization;
using Streaming.Learning.Serving;
using Streaming.Shared.Evaluation.TopN;
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

    /// <summary>
    /// The model's training data, when the evaluated data is another folder: the baselines are fitted on its
    /// training split only, never on the evaluated users. Null (and not the model's own data): the rating baselines
    /// learn from the evaluated users' support sets, and the collaborative top-N baselines are left out.
    /// </summary>
    public RatingsDataset? TrainingData { get; init; }

    /// <summary>The top-N protocol's settings (list length, relevance threshold).</summary>
    public TopNOptions TopN { get; init; } = TopNOptions.Default;

    /// <summary>
    /// Measure the baselines too (the default). False measures the model alone, for comparing several models on the
    /// same users and splits, where the baselines are measured once.
    /// </summary>
    public bool IncludeBaselines { get; init; } = true;
}

/// <summary>
/// A baseline on the two cold-start partitions. A partition is null where the baseline is undefined (popularity and
/// the collaborative baselines on new items, which nothing may be fitted on).
/// </summary>
public sealed record PartitionPair(
    [property: JsonPropertyName("existing_items_new_users")] BaselineMetrics? ExistingItemsNewUsers,
    [property: JsonPropertyName("new_items_new_users")] BaselineMetrics? NewItemsNewUsers);

/// <summary>What a baseline measured on a partition: the rating figures of a rating predictor, the top-N figures of a list recommender, or both.</summary>
public sealed record BaselineMetrics
{
    [JsonPropertyName("users")]
    public int Users { get; init; }

    [JsonPropertyName("mae")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Mae { get; init; }

    [JsonPropertyName("rmse")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Rmse { get; init; }

    [JsonPropertyName("ndcg3")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Ndcg3 { get; init; }

    [JsonPropertyName("top_n")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public TopNResult? TopN { get; init; }

    /// <summary>A rating predictor's MAE per true rating value (<see cref="PartitionMetrics.MaeByRating"/>).</summary>
    [JsonPropertyName("mae_by_rating")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public MaeByRating? MaeByRating { get; init; }

    /// <summary>The MAE of the expected ratings, when <see cref="Mae"/> is that of whole stars read off them (<see cref="PartitionMetrics.MaeOfExpected"/>).</summary>
    [JsonPropertyName("mae_of_expected")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? MaeOfExpected { get; init; }

    /// <summary>A rating predictor's figures (and its list's, when it makes one).</summary>
    public static BaselineMetrics Of(PartitionMetrics m, TopNResult? topN = null) =>
        new() { Users = m.Users, Mae = m.Mae, Rmse = m.Rmse, Ndcg3 = m.Ndcg3, TopN = topN, MaeByRating = m.MaeByRating, MaeOfExpected = m.MaeOfExpected };

    /// <summary>A list recommender's figures.</summary>
    public static BaselineMetrics Of(TopNResult topN) => new() { Users = topN.Users + topN.SkippedUsers, TopN = topN };
}

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

    /// <summary>
    /// Baselines by name. Rating predictors: global_mean, item_mean, support_mean, support_mean_rounded (its MAE of whole
    /// stars, rounded), meta_init_no_adaptation (with its list),
    /// plain_network_finetuned. List recommenders, fitted on the model's training data only: popularity, top_rated,
    /// item_knn, ease (existing items); random, content_knn (new items).
    /// </summary>
    [JsonPropertyName("baselines")]
    public required IReadOnlyDictionary<string, PartitionPair> Baselines { get; init; }

    /// <summary>Where the baselines were fitted, in words.</summary>
    [JsonPropertyName("baselines_fitted_on")]
    public string BaselinesFittedOn { get; init; } = "";

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
        string usersText;
        var allUsers = data.Ratings.Select(r => r.UserId).Distinct().ToArray();
        if (ownData)
        {
            var split = MeluProtocol.SplitUsers(allUsers, record.ValidationFraction, record.TestFraction, record.SplitSeed);
            evalUsers = split.Test;
            validationUsers = split.Validation;
            usersText = $"held-out test users of the model's training split ({split.Test.Count} users, never seen in training)";
        }
        else
        {
            evalUsers = allUsers.Order().ToArray();
            usersText = $"every user of {data.Source} ({evalUsers.Count} users)";
        }

        var existing = MeluProtocol.ExistingItemsTasks(data, evalUsers, options.Seed, protocol);
        var fresh = MeluProtocol.NewItemsTasks(data, evalUsers, options.Seed, protocol);

        // The baselines see only the model's training data: its own split's training users, or the training folder's.
        var (training, interactions, fittedOn) = TrainingRatings(ownData ? data : options.TrainingData, record, protocol, evalUsers);
        Rating[] trainingRatings = training ?? existing.Concat(fresh).SelectMany(t => t.Support).ToArray();
        fittedOn ??= "the evaluated users' support sets only (no training data given: pass --train-data)";

        var table = model.Features.EncodeItems(data.Items.Values.OrderBy(i => i.ItemId));
        using var items = new ItemFeatureTensors(table, device);
        using var learner = new MetaLearner(model.Module, items, firstOrder: true);
        var existingBatches = TaskBatch.CreateMany(existing, BatchSize, table, model.Features, data.Users, device);
        var freshBatches = TaskBatch.CreateMany(fresh, BatchSize, table, model.Features, data.Users, device);

        var globalMean = new GlobalMeanPredictor(trainingRatings);
        var supportMean = new SupportMeanPredictor(globalMean.Mean);
        IRatingPredictor[] simple =
        [
            globalMean,
            new ItemMeanPredictor(trainingRatings),
            supportMean,
        ];
        var baselines = new Dictionary<string, PartitionPair>(StringComparer.Ordinal);
        foreach (var predictor in simple)
        {
            baselines[predictor.Name] = new PartitionPair(BaselineMetrics.Of(Evaluator.Evaluate(predictor, existing)), BaselineMetrics.Of(Evaluator.Evaluate(predictor, fresh)));
        }

        // Whole stars help any predictor's MAE, so the model's decoded MAE is also set against a decoded baseline.
        baselines["support_mean_rounded"] = new PartitionPair(
            BaselineMetrics.Of(Evaluator.Evaluate(supportMean, existing, RatingDecoder.Rounding)),
            BaselineMetrics.Of(Evaluator.Evaluate(supportMean, fresh, RatingDecoder.Rounding)));

        // Top-N: the served list. Existing items rank among the existing catalogue, new items among new items only.
        var topN = new TopNEvaluator(options.TopN);
        var existingCandidates = TopNEvaluator.ExistingItemCandidates(data.Items, protocol);
        var freshCandidates = TopNEvaluator.NewItemCandidates(data.Items, protocol);
        using var recommender = new BatchRecommender(model, data.Items.Values.OrderBy(i => i.ItemId));
        Func<IReadOnlyList<UserTask>, IReadOnlyList<int>, float[]> Scorer(int adaptSteps) => recommender.TaskScorer(data.Users, adaptSteps);

        var decoder = model.Manifest.RatingDecoder;
        var ours = new PartitionPair(
            BaselineMetrics.Of(MetaTraining.Evaluate(learner, existingBatches, steps, decoder), topN.Evaluate(Scorer(steps), existing, existingCandidates)),
            BaselineMetrics.Of(MetaTraining.Evaluate(learner, freshBatches, steps, decoder), topN.Evaluate(Scorer(steps), fresh, freshCandidates)));

        float rate = 0;
        if (options.IncludeBaselines)
        {
            baselines["meta_init_no_adaptation"] = new PartitionPair(
                BaselineMetrics.Of(MetaTraining.Evaluate(learner, existingBatches, 0, decoder), topN.Evaluate(Scorer(0), existing, existingCandidates)),
                BaselineMetrics.Of(MetaTraining.Evaluate(learner, freshBatches, 0, decoder), topN.Evaluate(Scorer(0), fresh, freshCandidates)));

            var fit = new TopNTrainingData(interactions ?? [], data.Items);
            if (training is not null)
            {
                ITopNRecommender[] collaborative = [new PopularityRecommender(), new TopRatedRecommender(), new ItemKnnRecommender(), new EaseRecommender(), new EaseRecommender(lambda: 200, dropout: 0.25)];
                foreach (var baseline in collaborative)
                {
                    baselines[baseline.Name] = new PartitionPair(BaselineMetrics.Of(topN.FitAndEvaluate(baseline, fit, existing, existingCandidates)), null);
                }
            }

            // What a user below the few-shot threshold is shown (evidence candidates, then popular items), judged the same way.
            if (model.Manifest.Onboarding is { } onboarding)
            {
                baselines["onboarding_list"] = new PartitionPair(BaselineMetrics.Of(topN.Evaluate(new OnboardingList(onboarding), existing, existingCandidates)), null);
            }

            foreach (var baseline in new ITopNRecommender[] { new RandomRecommender(options.Seed), new ContentKnnRecommender() })
            {
                baselines[baseline.Name] = new PartitionPair(null, BaselineMetrics.Of(topN.FitAndEvaluate(baseline, fit, fresh, freshCandidates)));
            }

            (var plain, rate) = PlainBaseline(model, items, table, data, trainingRatings, validationUsers, existingBatches, freshBatches, steps, options);
            baselines["plain_network_finetuned"] = plain;
        }
        else
        {
            baselines.Clear();
        }

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
            ExistingItemsNewUsers = Model(ours.ExistingItemsNewUsers!),
            NewItemsNewUsers = Model(ours.NewItemsNewUsers!),
            BaselinesFittedOn = fittedOn,
            Baselines = baselines,
            PlainFineTuneRate = rate,
            Seconds = time.GetElapsedTime(started).TotalSeconds,
        };
    }

    private static PartitionMetrics Model(BaselineMetrics m) => new(m.Users, m.Mae!.Value, m.Rmse!.Value, m.Ndcg3!.Value) { TopN = m.TopN, MaeByRating = m.MaeByRating, MaeOfExpected = m.MaeOfExpected };

    // The model's training users of its recorded split of the training folder (never an evaluated user): their warm-state
    // tasks' ratings, which the rating baselines learn from as the model's rating head does, and all their existing-item
    // ratings, which the list baselines learn from as the model's item-item layer does.
    private static (Rating[]? Ratings, IReadOnlyList<Rating>? Interactions, string? Description) TrainingRatings(RatingsDataset? training, TrainingRecord record, ProtocolOptions protocol, IReadOnlyList<int> evaluated)
    {
        if (training is null)
        {
            return (null, null, null);
        }

        var split = MeluProtocol.SplitUsers(training.Ratings.Select(r => r.UserId).Distinct(), record.ValidationFraction, record.TestFraction, record.SplitSeed);
        var excluded = evaluated.ToHashSet();
        var users = split.Train.Where(u => !excluded.Contains(u)).ToArray();
        var ratings = MeluProtocol.WarmStateTasks(training, users, record.Seed, protocol).SelectMany(t => t.Support.Concat(t.Query)).ToArray();
        var interactions = MeluProtocol.WarmStateRatings(training, users, protocol);
        return (ratings, interactions, $"{training.Source}: the model's {users.Length} training users, their warm-state tasks' {ratings.Length:N0} ratings (rating baselines) and all {interactions.Count:N0} of their existing-item ratings (list baselines)");
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

        // Its whole stars are read the same way as the model's it is compared with.
        var decoder = model.Manifest.RatingDecoder;
        rates.Value = best;
        return (new PartitionPair(BaselineMetrics.Of(MetaTraining.Evaluate(learner, existingBatches, steps, decoder)), BaselineMetrics.Of(MetaTraining.Evaluate(learner, freshBatches, steps, decoder))), best);
    }

    /// <summary>The model's onboarding list as a recommender: evidence candidates first, then popular items, the same for every user.</summary>
    private sealed class OnboardingList(OnboardingItems items) : ITopNRecommender
    {
        private readonly Dictionary<int, float> rank = items.Evidence.Concat(items.Popular)
            .Select(s => s.ItemId).Distinct()
            .Select((id, i) => (id, score: -(float)i))
            .ToDictionary(x => x.id, x => x.score);

        public string Name => "onboarding_list";

        public void Fit(TopNTrainingData train)
        {
        }

        public void Score(IReadOnlyList<UserTask> users, ReadOnlySpan<int> candidateItemIds, Span<float> scores)
        {
            for (int u = 0; u < users.Count; u++)
            {
                for (int c = 0; c < candidateItemIds.Length; c++)
                {
                    scores[(u * candidateItemIds.Length) + c] = rank.GetValueOrDefault(candidateItemIds[c], float.NegativeInfinity);
                }
            }
        }
    }
}

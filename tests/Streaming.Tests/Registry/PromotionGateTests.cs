using Streaming.Shared.Models;
using Streaming.Shared.Registry;

namespace Streaming.Tests.Registry;

[Trait("Kind", "Unit")]
public sealed class PromotionGateTests
{
    [Theory]
    [InlineData(0.80, 0.80, true)]
    [InlineData(0.80, 0.75, true)]
    [InlineData(0.80, 0.809, true)]
    [InlineData(0.80, 0.811, false)]
    public void Refusal_MaeComparedWithTheActiveVersionWithinTolerance(double active, double candidate, bool passes)
    {
        string? refusal = PromotionGate.Default.Refusal(Model("v2", candidate), Model("v1", active));

        Assert.Equal(passes, refusal is null);
        if (!passes)
        {
            Assert.Contains("gate refused v2: validation.mae 0.8110 is worse than the active v1's 0.8000", refusal, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Refusal_HigherIsBetterMetric_RefusesALowerScore()
    {
        var gate = new PromotionGate { Metric = "eval.ndcg3", HigherIsBetter = true, Tolerance = 0.005 };

        Assert.NotNull(gate.Refusal(Model("v2", metric: ("eval.ndcg3", 0.70)), Model("v1", metric: ("eval.ndcg3", 0.71))));
        Assert.Null(gate.Refusal(Model("v2", metric: ("eval.ndcg3", 0.72)), Model("v1", metric: ("eval.ndcg3", 0.71))));
    }

    [Fact]
    public void Refusal_MissingMetrics_RefusesOnlyACandidateThatCannotBeCompared()
    {
        Assert.Null(PromotionGate.Default.Refusal(Model("v2", 0.9), active: null));
        Assert.Null(PromotionGate.Default.Refusal(Model("v2", 0.9), Model("v1", mae: null)));
        Assert.Contains("has no validation.mae", PromotionGate.Default.Refusal(Model("v2", mae: null), Model("v1", 0.8)), StringComparison.Ordinal);
        Assert.NotNull(PromotionGate.Default.Refusal(Model("v2", double.NaN), Model("v1", 0.8)));
    }

    private static RegisteredModel Model(string version, double? mae = null, (string Name, double Value)? metric = null)
    {
        var metrics = new Dictionary<string, double>();
        if (mae is double m)
        {
            metrics[MetricNames.ValidationMae] = m;
        }

        if (metric is { } x)
        {
            metrics[x.Name] = x.Value;
        }

        return new RegisteredModel
        {
            Version = version,
            Algorithm = "metasgd",
            Hyperparameters = new Hyperparameters(),
            Training = new TrainingWindow(),
            Metrics = metrics,
            Sha256 = "",
            WeightsSha256 = "",
        };
    }
}

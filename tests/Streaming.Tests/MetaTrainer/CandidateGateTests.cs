using Streaming.MetaTrainer;
using Streaming.Shared.Evaluation;
using Streaming.Tests.Registry;

namespace Streaming.Tests.MetaTrainer;

/// <summary>The gate on model files written byte by byte (no TorchSharp), with figures chosen by the test.</summary>
[Trait("Kind", "Unit")]
public sealed class CandidateGateTests
{
    private static readonly MetaTrainerOptions Options = new() { Registry = "unused", Catalogue = "synthetic", MinEvaluationUsers = 100, MaxMaeRegression = 0.005, MaxNdcgRegression = 0.005 };
    private static readonly PartitionMetrics Parent = new(500, 0.7400, 0.9300, 0.7500);

    [Fact]
    public void Decide_CandidateWithANaNWeight_RefusesItNamingNaN()
    {
        byte[] nan = RegistryFixtures.ModelFile(seed: 1, poison: float.NaN);

        var decision = CandidateGate.Decide(nan, Parent with { Mae = 0.70 }, Parent, "v4", Options);

        Assert.False(decision.Passed);
        Assert.Contains("NaN", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_MaeWorseThanTheParentBeyondTheTolerance_RefusesNamingBothFigures()
    {
        var decision = CandidateGate.Decide(RegistryFixtures.ModelFile(seed: 1), Parent with { Mae = 0.7460 }, Parent, "v4", Options);

        Assert.False(decision.Passed);
        Assert.Contains("MAE regression", decision.Reason, StringComparison.Ordinal);
        Assert.Contains("0.7460", decision.Reason, StringComparison.Ordinal);
        Assert.Contains("v4's 0.7400", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_NdcgWorseThanTheParentBeyondTheTolerance_Refuses()
    {
        var decision = CandidateGate.Decide(RegistryFixtures.ModelFile(seed: 1), Parent with { Mae = 0.70, Ndcg3 = 0.7440 }, Parent, "v4", Options);

        Assert.False(decision.Passed);
        Assert.Contains("nDCG@3 regression", decision.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.7449, 0.7451)]   // worse by less than the tolerance on both
    [InlineData(0.7300, 0.7600)]   // better on both
    public void Decide_WithinTheTolerances_Passes(double mae, double ndcg)
    {
        var decision = CandidateGate.Decide(RegistryFixtures.ModelFile(seed: 1), Parent with { Mae = mae, Ndcg3 = ndcg }, Parent, "v4", Options);

        Assert.True(decision.Passed, decision.Reason);
    }

    [Fact]
    public void Decide_TooFewEvaluationUsers_RefusesNamingTheSetting()
    {
        var decision = CandidateGate.Decide(RegistryFixtures.ModelFile(seed: 1), Parent with { Users = 99, Mae = 0.5 }, Parent with { Users = 99 }, "v4", Options);

        Assert.False(decision.Passed);
        Assert.Contains("MinEvaluationUsers", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_NonFiniteFigures_Refuses()
    {
        var decision = CandidateGate.Decide(RegistryFixtures.ModelFile(seed: 1), Parent with { Mae = double.NaN }, Parent, "v4", Options);

        Assert.False(decision.Passed);
        Assert.Contains("not finite", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_WithoutAParent_PassesAFiniteCandidate()
    {
        var decision = CandidateGate.Decide(RegistryFixtures.ModelFile(seed: 1), Parent with { Mae = 1.5 }, parent: null, parentVersion: null, Options);

        Assert.True(decision.Passed, decision.Reason);
    }
}

// TEMPORARY
#pragma warning disable CA1822
namespace Streaming.Shared.Evaluation;
    public sealed record PartitionMetrics(int Users, double Mae, double Rmse, double Ndcg3);
    public sealed class MetricAccumulator { public void AddUser(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual) { } public PartitionMetrics Result() => new(0, 0, 0, 0); }


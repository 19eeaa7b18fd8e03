using System.Text.Json.Serialization;

namespace Streaming.Shared.Evaluation.TopN;

/// <summary>
/// Top-N quality of one recommender on one partition, serialised as the <c>"top_n"</c> object of <c>eval</c>'s JSON:
/// <c>{"users": N, "recall@10": x, "recall@20": y, "ndcg@20": z, "coverage@20": c, "overlap@20": o, ...}</c>.
/// </summary>
/// <param name="Users">Users with at least one relevant query item: the users the accuracy means are over.</param>
/// <param name="SkippedUsers">Users with no relevant query item (left out of the accuracy means, not of coverage and overlap).</param>
/// <param name="Recall10">Mean recall@10 of the relevant query items.</param>
/// <param name="Recall20">Mean recall@20.</param>
/// <param name="Ndcg20">Mean binary nDCG@20.</param>
/// <param name="Coverage20">Distinct items over all evaluated users' top-20 lists / candidate items (<see cref="TopNMetrics.Coverage"/>).</param>
/// <param name="Overlap20">Mean pairwise overlap of the top-20 lists (<see cref="TopNMetrics.MeanOverlap"/>).</param>
/// <param name="Candidates">Items of the partition's candidate set (before each user's support items are removed).</param>
public sealed record TopNResult(
    [property: JsonPropertyName("users")] int Users,
    [property: JsonPropertyName("skipped_users")] int SkippedUsers,
    [property: JsonPropertyName("recall@10")] double Recall10,
    [property: JsonPropertyName("recall@20")] double Recall20,
    [property: JsonPropertyName("ndcg@20")] double Ndcg20,
    [property: JsonPropertyName("coverage@20")] double Coverage20,
    [property: JsonPropertyName("overlap@20")] double Overlap20,
    [property: JsonPropertyName("candidates")] int Candidates);

namespace Streaming.Shared.Sessions;

/// <summary>
/// Per-user sessions: idempotent application of interactions with the threshold policy, and pipelined loads.
/// <see cref="RedisSessionStore"/> in production; <see cref="InMemorySessionStore"/> where no Redis can be had
/// (the embedded demo says so). Both are thread-safe and behave identically (the same tests run on both).
/// </summary>
public interface ISessionStore
{
    /// <summary>Applies interactions in order; returns one result per interaction.</summary>
    Task<ApplyResult[]> ApplyAsync(IReadOnlyList<Contracts.Interaction> interactions);

    /// <summary>Loads sessions; users without a session are left out.</summary>
    Task<IReadOnlyList<StoredSession>> LoadAsync(IReadOnlyList<string> userIds);

    /// <summary>
    /// Stores each user's last served list, which <see cref="ApplyAsync"/> then attributes the user's later
    /// interactions to (online evaluation); an older list never replaces a newer one.
    /// </summary>
    Task RecordServedAsync(IReadOnlyList<Online.ServedList> lists);

    /// <summary>Every arm's online sums so far.</summary>
    Task<IReadOnlyList<Online.ArmTally>> ReadTalliesAsync();
}

/// <summary>Per-user fast weights, tagged with the model version and session size they were adapted for.</summary>
public interface IFastWeightCache
{
    /// <summary>Stores every entry.</summary>
    Task SetManyAsync(IReadOnlyList<(string UserId, CachedFastWeights Weights)> entries);

    /// <summary>The cached weights of each user, or null (missing, expired, or unreadable).</summary>
    Task<CachedFastWeights?[]> GetManyAsync(IReadOnlyList<string> userIds);

    /// <summary>Every cached user with the model version and session size of their weights, page by page (a SCAN: no blocking).</summary>
    IAsyncEnumerable<IReadOnlyList<(string UserId, string ModelVersion, long Interactions)>> ScanAsync(int pageSize, CancellationToken cancellationToken);
}

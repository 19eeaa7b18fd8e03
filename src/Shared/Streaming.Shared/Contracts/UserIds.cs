namespace Streaming.Shared.Contracts;

/// <summary>
/// What a user id must be to be used as part of Redis keys (<c>{prefix}:{user}:m</c>): 1..128 characters,
/// neither <c>{</c> nor <c>}</c>. The braces delimit Redis Cluster hash tags: an id starting with <c>}</c> gives a
/// user's keys an empty tag, which Redis ignores, so they would hash to different slots and the session script
/// (whose keys must share a slot) would fail; an id with braces elsewhere could put another user's tag in play.
/// Rejecting them keeps every accepted id's keys in one slot, and every existing key unchanged.
/// </summary>
public static class UserIds
{
    /// <summary>Longest accepted user id.</summary>
    public const int MaxLength = 128;

    /// <summary>Null when <paramref name="userId"/> is acceptable, otherwise why not.</summary>
    public static string? Problem(string? userId, int maxLength = MaxLength) =>
        string.IsNullOrWhiteSpace(userId) || userId.Length > maxLength ? $"userId must be 1..{maxLength} characters"
        : userId.AsSpan().IndexOfAny('{', '}') >= 0 ? "userId must not contain '{' or '}' (they delimit Redis Cluster hash tags)"
        : null;
}

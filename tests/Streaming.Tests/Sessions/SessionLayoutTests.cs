using Streaming.Shared.Contracts;
using Streaming.Shared.Sessions;

namespace Streaming.Tests.Sessions;

[Trait("Kind", "Unit")]
public sealed class SessionLayoutTests
{
    [Fact]
    public void EncodeDecode_HistoryEntries_RoundTripNewestFirst()
    {
        var events = new[]
        {
            new Interaction("e1", "u", 3952, 4.5f, DateTimeOffset.FromUnixTimeMilliseconds(978_300_760_123), null),
            new Interaction("e2", "u", int.MaxValue, 1f, DateTimeOffset.FromUnixTimeMilliseconds(4_102_444_800_000), null),
            new Interaction("e3", "u", 1, 3.5f, DateTimeOffset.UnixEpoch, null),
        };

        var decoded = SessionLayout.Decode(events.Reverse().SelectMany(SessionLayout.Encode).ToArray());

        Assert.Equal(
            events.Reverse().Select(e => new StoredInteraction(e.ItemId, e.Rating, e.EventTime.ToUnixTimeMilliseconds())),
            decoded);
    }

    [Fact]
    public void Decode_EmptyOrPartialEntry_ReadsWholeEntriesOnly()
    {
        var one = SessionLayout.Encode(new Interaction("e", "u", 7, 2f, DateTimeOffset.UnixEpoch, null));

        Assert.Empty(SessionLayout.Decode([]));
        Assert.Single(SessionLayout.Decode([.. one, 1, 2, 3]));
    }

    [Theory]
    [InlineData(true, 1L, false, true)]
    [InlineData(true, 5L, true, false)]
    [InlineData(false, 5L, true, false)]
    [InlineData(false, 1L, false, true)]
    [InlineData(false, 123_456_789_012L, false, false)]
    [InlineData(true, 0L, false, false)]
    public void PackUnpack_Result_RoundTrips(bool applied, long interactions, bool adapt, bool onboard)
    {
        var result = new ApplyResult(applied, interactions, adapt, onboard);

        Assert.Equal(result, SessionLayout.UnpackResult(SessionLayout.PackResult(result)));
    }

    [Fact]
    public void Buckets_GroupsEachUsersEventsInOrderOfFirstAppearance()
    {
        var events = new[] { "a", "b", "a", "c", "b", "a" }.Select((u, i) => new Interaction($"e{i}", u, 1, 1f, DateTimeOffset.UnixEpoch, null)).ToList();

        var single = Assert.Single(UserGroups.Buckets(events, slotOf: null));
        var bySlot = UserGroups.Buckets(events, slotOf: u => u == "b" ? 1 : 0).ToList();

        Assert.Equal([[0, 2, 5], [1, 4], [3]], single);
        Assert.Equal([[[0, 2, 5], [3]], [[1, 4]]], bySlot);
    }

    [Fact]
    public void Chunks_SplitsALargeGroupInOrderAndNeverExceedsTheSize()
    {
        List<List<int>> bucket = [[.. Enumerable.Range(0, 7)], [7, 8], [9]];

        var chunks = UserGroups.Chunks(bucket, size: 3).ToList();

        Assert.All(chunks, c => Assert.InRange(c.Sum(g => g.Count), 1, 3));
        Assert.Equal(Enumerable.Range(0, 10), chunks.SelectMany(c => c).SelectMany(g => g));
        Assert.Equal([[0, 1, 2]], chunks[0]);
        Assert.Equal([[6], [7, 8]], chunks[2]);
    }
}

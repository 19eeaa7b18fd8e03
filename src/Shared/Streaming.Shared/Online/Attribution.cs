using StackExchange.Redis;

namespace Streaming.Shared.Online;

/// <summary>An applied interaction, as attribution sees it.</summary>
/// <param name="TimeMs">Its event time (Unix milliseconds).</param>
/// <param name="ItemId">The item.</param>
/// <param name="Rating">The explicit rating, or null for an implicit signal.</param>
internal readonly record struct AttributedEvent(long TimeMs, int ItemId, float? Rating)
{
    public static AttributedEvent From(Contracts.Interaction e) => new(e.EventTime.ToUnixTimeMilliseconds(), e.ItemId, e.Explicit ? e.Rating : null);
}

/// <summary>A user's last served list and the user's counters for its arm, as stored (<see cref="OnlineLayout"/>).</summary>
internal sealed record UserListRecord(string Arm, long ProducedAtMs, (int ItemId, float Predicted)[] Items, long Events, long Hits)
{
    /// <summary>
    /// From the values of <see cref="OnlineLayout.ListFields"/> in the session hash, or null when no list was served; the
    /// counters are 0 until <see cref="WithCounters"/> reads them.
    /// </summary>
    public static UserListRecord? From(ReadOnlySpan<RedisValue> list)
    {
        if (list[0].IsNull || list[2].IsNull)
        {
            return null;
        }

        string arm = OnlineLayout.Arm(list[0].ToString(), list[1].IsNull ? null : list[1].ToString());
        var items = list[3].IsNull ? [] : OnlineLayout.DecodeList(((ReadOnlyMemory<byte>)list[3]).Span);
        return new UserListRecord(arm, (long)list[2], items, 0, 0);
    }

    /// <summary>The user's counters of <see cref="Arm"/> in the <c>{prefix}:{user}:o</c> hash.</summary>
    public RedisValue[] CounterFields => ["e|" + Arm, "h|" + Arm];

    /// <summary>This record with the counters read from <see cref="CounterFields"/>.</summary>
    public UserListRecord WithCounters(RedisValue[] counters) =>
        this with { Events = counters[0].IsNull ? 0 : (long)counters[0], Hits = counters[1].IsNull ? 0 : (long)counters[1] };
}

/// <summary>What one user's applied events add: the user's new counters for the arm, and the increments of its sums.</summary>
/// <param name="Arm">The arm of the list the events are attributed to.</param>
/// <param name="Events">The user's attributed events for the arm afterwards.</param>
/// <param name="Hits">The user's hits for the arm afterwards.</param>
/// <param name="Increments">Increments of the arm's sums, in <see cref="OnlineLayout.Stats"/> order.</param>
internal sealed record AttributionUpdate(string Arm, long Events, long Hits, double[] Increments);

/// <summary>
/// Attribution in C#, for the pipelined store and the in-memory one; <see cref="Sessions.RedisSessionStore"/>'s
/// script does the same in Lua (the session store tests hold all three to the same figures). Only events at or
/// after the list's production count: the events that led to a list (and those sent before it arrived) are not
/// outcomes of it.
/// </summary>
internal static class Attribution
{
    public static AttributionUpdate? Attribute(UserListRecord? list, IEnumerable<AttributedEvent> applied)
    {
        if (list is null)
        {
            return null;
        }

        var sums = new double[OnlineLayout.Stats.Length];
        long events = 0, hits = 0;
        foreach (var e in applied.Where(e => e.TimeMs >= list.ProducedAtMs))
        {
            events++;
            int rank = Array.FindIndex(list.Items, i => i.ItemId == e.ItemId);
            if (rank < 0)
            {
                continue;
            }

            hits++;
            double reciprocal = 1.0 / (rank + 1);
            sums[3] += reciprocal;
            sums[4] += reciprocal * reciprocal;
            if (e.Rating is float actual && !float.IsNaN(list.Items[rank].Predicted))
            {
                // As the script does: the stored prediction is a float32, the rating its decimal text.
                double error = Math.Abs((double)list.Items[rank].Predicted - double.Parse(actual.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture));
                sums[5] += 1;
                sums[6] += error;
                sums[7] += error * error;
            }
        }

        if (events == 0)
        {
            return null;
        }

        long e1 = list.Events + events, h1 = list.Hits + hits;
        double before = list.Events == 0 ? 0 : (double)list.Hits / list.Events, after = (double)h1 / e1;
        sums[0] = events;
        sums[1] = list.Events == 0 ? 1 : 0;
        sums[2] = hits;
        sums[8] = after - before;
        sums[9] = (after * after) - (before * before);
        return new AttributionUpdate(list.Arm, e1, h1, sums);
    }
}

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
    /// <summary>From the fields of a <c>{prefix}:{user}:o</c> hash (<c>HGETALL</c>), or null when no list was served.</summary>
    public static UserListRecord? From(HashEntry[] fields)
    {
        var map = fields.ToDictionary(f => f.Name.ToString(), f => f.Value, StringComparer.Ordinal);
        if (!map.TryGetValue("v", out var version) || !map.TryGetValue("t", out var time))
        {
            return null;
        }

        string arm = OnlineLayout.Arm(version.ToString(), map.TryGetValue("w", out var window) ? window.ToString() : null);
        var items = map.TryGetValue("k", out var list) ? OnlineLayout.DecodeList(((ReadOnlyMemory<byte>)list).Span) : [];
        long Count(string field) => map.TryGetValue(field, out var v) ? (long)v : 0;
        return new UserListRecord(arm, (long)time, items, Count("e|" + arm), Count("h|" + arm));
    }
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

using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using Streaming.Shared.Contracts;
using Streaming.Shared.Data;

namespace Streaming.Local;

/// <summary>A brand-new user of a replay: the events they send and the ratings held back to judge their recommendations.</summary>
/// <param name="UserId">The id in the stream (unique per arrival, so a held-out user can arrive several times).</param>
/// <param name="Profile">What they tell us about themselves with their first event.</param>
/// <param name="Events">Their interactions, in order.</param>
/// <param name="HeldOut">Ratings never sent (the MeLU query set): what a good recommendation should find.</param>
public sealed record ReplayUser(string UserId, UserProfile Profile, IReadOnlyList<Rating> Events, IReadOnlyList<Rating> HeldOut);

/// <summary>
/// Replays new users into the interactions topic: users arrive at a fixed rate, each sending their events in a
/// burst, stamped with the time they are sent (so latency is measured from the real event time). Users come
/// from the MeLU protocol's held-out split, never from the users the model was trained on.
/// </summary>
public static class NewUserReplay
{
    /// <summary><paramref name="count"/> arrivals, cycling through <paramref name="tasks"/> (support sent, query held back).</summary>
    public static IReadOnlyList<ReplayUser> Plan(RatingsDataset data, IReadOnlyList<UserTask> tasks, int count, string prefix, int? eventsPerUser = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(tasks);
        if (tasks.Count == 0)
        {
            throw new InvalidOperationException($"{data.Source}: no held-out users to replay");
        }

        return [.. Enumerable.Range(0, count).Select(i =>
        {
            var task = tasks[i % tasks.Count];
            var events = eventsPerUser is int n ? task.Support.Take(n).ToArray() : task.Support;
            return new ReplayUser($"{prefix}-{i}", data.Users.GetValueOrDefault(task.UserId) ?? UserProfile.Unknown, events, task.Query);
        })];
    }

    /// <summary>
    /// Sends every user's events, <paramref name="usersPerSecond"/> users a second; every <paramref name="poisonEvery"/>-th
    /// user also sends one malformed event (it must reach the dead-letter topic, and nothing else may suffer).
    /// Reports progress (users sent) as it goes; returns the number of events sent.
    /// </summary>
    public static long Run(
        IProducer<string?, byte[]> producer,
        string topic,
        IReadOnlyList<ReplayUser> users,
        double usersPerSecond,
        int poisonEvery,
        TimeProvider time,
        IProgress<int>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(producer);
        ArgumentNullException.ThrowIfNull(users);
        long sent = 0;
        var watch = Stopwatch.StartNew();
        for (int u = 0; u < users.Count && !cancellationToken.IsCancellationRequested; u++)
        {
            var due = TimeSpan.FromSeconds(u / usersPerSecond);
            if (due > watch.Elapsed)
            {
                Thread.Sleep(due - watch.Elapsed);
            }

            var user = users[u];
            for (int i = 0; i < user.Events.Count; i++)
            {
                var profile = i == 0 ? new ProfileFields { Gender = user.Profile.Gender, Age = user.Profile.Age, Occupation = user.Profile.Occupation, Zip = user.Profile.Zip } : null;
                Produce(producer, topic, user.UserId, Event(user, $"{user.UserId}:{i}", user.Events[i], time, profile));
                sent++;
            }

            if (poisonEvery > 0 && u % poisonEvery == poisonEvery - 1)
            {
                string poison = string.Create(CultureInfo.InvariantCulture, $$"""{"schema":"interaction.v1","eventId":"{{user.UserId}}:bad","userId":"{{user.UserId}}","itemId":{{user.Events[0].ItemId}},"rating":9}""");
                Produce(producer, topic, user.UserId, System.Text.Encoding.UTF8.GetBytes(poison));
                sent++;
            }

            progress?.Report(u + 1);
        }

        producer.Flush(TimeSpan.FromSeconds(30));
        return sent;
    }

    /// <summary>
    /// Sends <paramref name="user"/>'s held-back ratings (ids <c>{user}:h{i}</c>, stamped now), the interactions
    /// that follow a recommendation; returns how many. Not flushed: the producer delivers them as it goes.
    /// </summary>
    public static int SendHeldBack(IProducer<string?, byte[]> producer, string topic, ReplayUser user, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(user);
        for (int i = 0; i < user.HeldOut.Count; i++)
        {
            Produce(producer, topic, user.UserId, Event(user, $"{user.UserId}:h{i}", user.HeldOut[i], time, profile: null));
        }

        return user.HeldOut.Count;
    }

    private static byte[] Event(ReplayUser user, string eventId, Rating rating, TimeProvider time, ProfileFields? profile) =>
        JsonSerializer.SerializeToUtf8Bytes(new InteractionEvent
        {
            EventId = eventId,
            UserId = user.UserId,
            ItemId = rating.ItemId,
            Rating = rating.Value,
            EventTime = time.GetUtcNow(),
            Profile = profile,
        });

    private static void Produce(IProducer<string?, byte[]> producer, string topic, string key, byte[] value)
    {
        while (true)
        {
            try
            {
                producer.Produce(topic, new Message<string?, byte[]> { Key = key, Value = value });
                return;
            }
            catch (ProduceException<string?, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                producer.Poll(TimeSpan.FromMilliseconds(10));   // the local queue is full: let deliveries drain
            }
        }
    }
}

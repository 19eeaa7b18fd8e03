using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;
using Streaming.Shared.Contracts;

namespace Streaming.Cli.Commands;

/// <summary>
/// <c>streaming publish</c>: replays users' ratings into the <c>interactions</c> topic (contract v1), user after
/// user, each user's ratings in source order, the profile on the user's first event.
/// </summary>
/// <remarks>
/// Event time: this copy of MovieLens has no timestamps, so every event is stamped with the moment it is sent
/// (the replay clock). Event ids are derived from the data set, the user and the rating's position
/// (<c>{source}:{user}:{index}</c>), so publishing the same data twice is deduplicated downstream.
/// </remarks>
internal static class PublishCommand
{
    public static Command Create()
    {
        var bootstrap = new Option<string>("--bootstrap") { Description = "Kafka bootstrap servers (host:port,...).", Required = true };
        var topic = new Option<string>("--topic") { Description = "Topic to publish to.", DefaultValueFactory = _ => "interactions" };
        var data = CommonOptions.Data(required: false);
        var users = new Option<int?>("--users") { Description = "Publish at most this many users." };
        var rate = new Option<double>("--rate") { Description = "Events per second (0: as fast as the broker takes them).", DefaultValueFactory = _ => 0 };
        var command = new Command("publish", "Replay users' interactions (a data folder or synthetic users) into the interactions topic.")
        {
            bootstrap, topic, data, users, rate,
        };
        command.SetAction((parse, cancellationToken) => Task.FromResult(Run(
            parse.GetValue(bootstrap)!, parse.GetValue(topic)!, parse.GetValue(data)!, parse.GetValue(users), parse.GetValue(rate), TimeProvider.System, cancellationToken)));
        return command;
    }

    public static int Run(string bootstrap, string topic, string dataPath, int? maxUsers, double rate, TimeProvider time, CancellationToken cancellationToken)
    {
        var data = CommonOptions.LoadData(dataPath);
        string source = data.Source.StartsWith("synthetic", StringComparison.Ordinal) ? data.Source : Path.GetFileName(data.Source.TrimEnd('/'));
        var byUser = data.Ratings.GroupBy(r => r.UserId).OrderBy(g => g.Key).Take(maxUsers ?? int.MaxValue).ToList();
        using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 5,
        }).Build();

        long sent = 0;
        var watch = Stopwatch.StartNew();
        foreach (var user in byUser)
        {
            int index = 0;
            foreach (var rating in user)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    break;
                }

                var profile = index == 0 && data.Users.TryGetValue(user.Key, out var p)
                    ? new ProfileFields { Gender = p.Gender, Age = p.Age, Occupation = p.Occupation, Zip = p.Zip }
                    : null;
                var e = new InteractionEvent
                {
                    EventId = $"{source}:{user.Key}:{index++}",
                    UserId = user.Key.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ItemId = rating.ItemId,
                    Rating = rating.Value,
                    EventTime = time.GetUtcNow(),
                    Profile = profile,
                };
                ProduceWithBackpressure(producer, topic, e);
                sent++;
                if (rate > 0 && watch.Elapsed.TotalSeconds < sent / rate)
                {
                    Thread.Sleep(TimeSpan.FromSeconds((sent / rate) - watch.Elapsed.TotalSeconds));
                }
            }
        }

        producer.Flush(TimeSpan.FromSeconds(60));
        Console.WriteLine($"published {sent:N0} events of {byUser.Count:N0} users to '{topic}' in {watch.Elapsed.TotalSeconds:F1} s ({sent / Math.Max(1e-9, watch.Elapsed.TotalSeconds):N0} events/s)");
        return 0;
    }

    private static void ProduceWithBackpressure(IProducer<string, byte[]> producer, string topic, InteractionEvent e)
    {
        var message = new Message<string, byte[]> { Key = e.UserId, Value = JsonSerializer.SerializeToUtf8Bytes(e) };
        while (true)
        {
            try
            {
                producer.Produce(topic, message);
                return;
            }
            catch (ProduceException<string, byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
            {
                producer.Poll(TimeSpan.FromMilliseconds(50));   // the local queue is full: let deliveries drain
            }
        }
    }
}

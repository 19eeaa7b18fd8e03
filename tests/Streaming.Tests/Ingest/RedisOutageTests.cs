using System.Text.Json;
using Polly;
using Streaming.Ingest.Processing;
using Streaming.Shared.Contracts;
using Streaming.Shared.Hosting;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;
using Streaming.Tests.Infrastructure;

namespace Streaming.Tests.Ingest;

/// <summary>Its own redis-server (the test stops it), so no other test sees the outage.</summary>
[Trait("Kind", "Integration")]
public sealed class RedisOutageTests(RedisServerFixture redis, KafkaMockClusterFixture kafka)
    : IClassFixture<RedisServerFixture>, IClassFixture<KafkaMockClusterFixture>
{
    [Fact]
    public async Task Process_WhileRedisIsDown_WaitsReportsTheOutageAndResumesWithoutLoss()
    {
        redis.Require();
        // StackExchange.Redis holds commands in its backlog while reconnecting and fails them after asyncTimeout;
        // a short one makes this outage outlast it, so the Polly pipeline's retries are exercised too.
        await using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port},asyncTimeout=1000,abortConnect=false");
        string run = Guid.NewGuid().ToString("N")[..8];
        var topics = new KafkaOptions
        {
            BootstrapServers = kafka.BootstrapServers,
            DeadLetterTopic = $"dlq-{run}",
            AdaptRequestsTopic = $"adapt-requests-{run}",
        };
        var outages = new List<string>();
        var pipeline = PipelineServices.AddRedisRetry(new ResiliencePipelineBuilder(), reason => { lock (outages) { outages.Add(reason); } }).Build();
        var store = new RedisSessionStore(connection, new SessionStoreOptions { AdaptThreshold = 5 }, "t" + run);
        using var producer = kafka.Producer();
        var processor = new InteractionBatchProcessor(
            new InteractionValidator(new ValidationRules(), item => item is >= 1 and <= 100), store, new KafkaOutbox(producer), topics, pipeline);
        var batch = Enumerable.Range(0, 200)
            .Select(i => new IncomingMessage($"u{i % 20}", JsonSerializer.SerializeToUtf8Bytes(new InteractionEvent
            {
                EventId = $"e{i}",
                UserId = $"u{i % 20}",
                ItemId = 1 + (i % 100),
                Rating = 3,
                EventTime = DateTimeOffset.UnixEpoch.AddDays(20_000),
            }), "interactions", 0, i))
            .ToList();

        redis.StopServer();
        var processing = processor.ProcessAsync(batch, TestContext.Current.CancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken);
        Assert.False(processing.IsCompleted, "the batch completed while Redis was down");
        redis.RestartServer();
        var outcome = await processing.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        Assert.Equal(200, outcome.Applied);
        Assert.Equal(40, outcome.AdaptRequests);   // 20 users, due at 5 and again at 10 interactions
        lock (outages)
        {
            Assert.NotEmpty(outages);
        }

        var sessions = await store.LoadAsync(Enumerable.Range(0, 20).Select(u => $"u{u}").ToList());
        Assert.All(sessions, s => Assert.Equal(10, s.Interactions));
    }
}

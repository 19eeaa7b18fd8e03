using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// The Adapter service adapts new users' fast weights and publishes recommendations.
// It is a Generic Host from the start so that configuration, logging and shutdown behave as they will;
// its workers arrive with the streaming pipeline.
var builder = Host.CreateApplicationBuilder(args);
using var host = builder.Build();
host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Streaming.Adapter")
    .LogInformation("Streaming.Adapter started with no workers yet; it runs until stopped");
await host.RunAsync();

using Streaming.Adapter;
using Streaming.Shared.Hosting;

// Adapter: adapt-requests -> fast weights adapted from the meta-model (cached in Redis) -> recommendations.
var builder = WebApplication.CreateSlimBuilder(args);
builder.AddServiceDefaults();
builder.AddAdapterServices();
var app = builder.Build();
app.MapServiceDefaults();
await app.RunAsync();

using Streaming.Ingest;
using Streaming.Shared.Hosting;

// Ingest: interactions topic -> validated, deduplicated sessions in Redis -> adapt-requests (and the DLQ).
var builder = WebApplication.CreateSlimBuilder(args);
builder.AddServiceDefaults();
builder.AddIngestServices();
var app = builder.Build();
app.MapServiceDefaults();
await app.RunAsync();

using Streaming.MetaTrainer;
using Streaming.Shared.Hosting;

// MetaTrainer: sessions in Redis -> a candidate meta-model warm-started from the active version -> the gate ->
// the registry (canary, active or just published). Periodic by default; `--once` runs once (a CronJob).
var builder = WebApplication.CreateSlimBuilder(MetaTrainerServiceCollectionExtensions.ConfigurationArguments(args));
builder.AddServiceDefaults();
builder.AddMetaTrainerServices(args);
await using var app = builder.Build();
return await app.RunMetaTrainerAsync();

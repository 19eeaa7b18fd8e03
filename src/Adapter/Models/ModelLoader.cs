using Streaming.Shared.Models;
using Microsoft.Extensions.Options;
using Streaming.Shared.Data;
using Streaming.Shared.Hosting;
using Streaming.Learning;
using Streaming.Learning.Models;
using Streaming.Learning.Serving;

namespace Streaming.Adapter.Models;

/// <summary>
/// Follows the model source: loads what it assigns before the service starts, then polls every <see cref="AdapterOptions.ModelPollMs"/>. A
/// changed assignment (new file, promote, canary, rollback) is loaded in the background: downloaded and
/// checksum-verified, manifest and weights checked, catalogue prepared, and only then offered to the consume
/// loop as one set. Models already loaded are reused. A refused version is logged and counted and the current
/// set keeps serving; that assignment is tried again only when the source changes. A changed catalogue (its
/// files are checked at the same interval) is prepared into every served model, and the new set replaces the old.
/// <para>
/// When the assigned version is refused at start-up, the loader serves the newest good version before it (the
/// active version without its canary, then the routing's history) and reports itself degraded (/health and
/// <c>streaming_adapter_model_degraded</c>) until an assignment loads: a bad promotion never makes the Adapters
/// crash-loop. Start-up fails, naming the setting, only when nothing at all can be served.
/// </para>
/// </summary>
public sealed partial class ModelLoader(
    IModelSource source,
    ModelSlot slot,
    IOptions<AdapterOptions> options,
    ConsumerHealth health,
    ILogger<ModelLoader> logger) : BackgroundService
{
    private readonly Lazy<LiveCatalogue> catalogue = new(() => new LiveCatalogue(options.Value.Catalogue));
    private readonly Lazy<TorchSharp.torch.Device> device = new(() => TorchDevice.Resolve(options.Value.Device, "Adapter:Device"));
    private ModelAssignment? served;
    private ModelAssignment? refused;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        health.NotReady("loading the meta-model");
        NativeAllocator.KeepFreedMemory();
        if (options.Value.TensorThreads > 0)
        {
            TorchSharp.torch.set_num_threads(options.Value.TensorThreads);
        }

        try
        {
            var assignment = await source.CurrentAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"{SettingName}: nothing to serve at {source.Description}");
            try
            {
                await LoadAsync(assignment, cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidDataException refusal)
            {
                await ServePreviousAsync(assignment, refusal, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new InvalidOperationException($"{SettingName}: {source.Description} cannot be served: {e.Message}", e);
        }

        health.Ready();
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.Value.ModelPollMs));
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                // A changed catalogue is prepared into every served model again (the old set serves meanwhile).
                bool catalogueChanged = RefreshCatalogue();
                var assignment = await source.CurrentAsync(stoppingToken).ConfigureAwait(false);
                if (assignment is not null && (catalogueChanged || (assignment != served && assignment != refused)))
                {
                    await LoadAsync(assignment, stoppingToken, reuseLoaded: !catalogueChanged).ConfigureAwait(false);
                }
                else if (assignment is not null && assignment == served)
                {
                    // The routing came back to what serves (a rollback to the version a refusal fell back to).
                    health.NotDegraded();
                    AdapterMetrics.ModelDegraded.Set(0);
                }
            }
            catch (InvalidDataException e)
            {
                // Refused and logged by LoadAsync; the current set keeps serving, which is not what the routing says.
                Degrade($"serving {served} because the routed version was refused: {e.Message}");
            }
            catch (Exception e) when (e is IOException or StackExchange.Redis.RedisException or InvalidOperationException)
            {
                LogUnavailable(source.Description, e.Message);
            }
        }
    }

    // The newest good version before the refused assignment: its active version alone (a bad canary), then the
    // routing's history. Throws the original refusal when none of them loads.
    private async Task ServePreviousAsync(ModelAssignment assignment, InvalidDataException refusal, CancellationToken cancellationToken)
    {
        var candidates = new List<string>();
        if (assignment.Canary is not null)
        {
            candidates.Add(assignment.Active);
        }

        candidates.AddRange((await source.PreviousAsync(cancellationToken).ConfigureAwait(false)).Where(v => v != assignment.Active));
        foreach (string version in candidates.Distinct())
        {
            try
            {
                await LoadAsync(new ModelAssignment(version), cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidDataException)
            {
                continue;   // refused and logged; try the one before
            }

            refused = assignment;
            Degrade($"serving {version} because the routed {assignment} was refused: {refusal.Message}");
            return;
        }

        throw refusal;
    }

    private void Degrade(string reason)
    {
        health.Degraded(reason);
        AdapterMetrics.ModelDegraded.Set(1);
        LogDegraded(reason);
    }

    private string SettingName => string.IsNullOrWhiteSpace(options.Value.Registry) ? "Adapter:Model" : "Adapter:Registry";

    private bool RefreshCatalogue()
    {
        try
        {
            if (catalogue.Value.Refresh())
            {
                LogCatalogue(catalogue.Value.Source, catalogue.Value.Items.Count, catalogue.Value.Revision);
                return true;
            }
        }
        catch (Exception e) when (e is DataFormatException or IOException)
        {
            LogCatalogueRefused(catalogue.Value.Source, e.Message);
        }

        return false;
    }

    private async Task LoadAsync(ModelAssignment assignment, CancellationToken cancellationToken, bool reuseLoaded = true)
    {
        var loaded = reuseLoaded ? slot.Latest?.Models.ToDictionary(m => m.Version) ?? [] : [];
        var fresh = new List<ServingModel>();
        try
        {
            async Task<ServingModel> Get(string version)
            {
                if (!loaded.TryGetValue(version, out var model))
                {
                    model = await LoadVersionAsync(version, cancellationToken).ConfigureAwait(false);
                    fresh.Add(model);
                    loaded[version] = model;
                }

                return model;
            }

            var active = await Get(assignment.Active).ConfigureAwait(false);
            var canary = assignment.Canary is { } c && c != assignment.Active ? await Get(c).ConfigureAwait(false) : null;
            slot.Offer(new ServingSet(active, canary, canary is null ? 0 : assignment.CanaryPercent));
        }
        catch (InvalidDataException e)
        {
            fresh.ForEach(m => m.Dispose());
            AdapterMetrics.ModelLoads.WithLabels("refused").Inc();
            LogRefused(assignment.ToString(), source.Description, e.Message);
            refused = assignment;
            throw;
        }

        foreach (var (version, role) in new[] { (served?.Active, "active"), (served?.Canary, "canary") })
        {
            if (version is not null)
            {
                AdapterMetrics.ModelInfo.RemoveLabelled(version, role);
            }
        }

        AdapterMetrics.ModelInfo.WithLabels(assignment.Active, "active").Set(1);
        if (assignment.Canary is { } canaryVersion)
        {
            AdapterMetrics.ModelInfo.WithLabels(canaryVersion, "canary").Set(assignment.CanaryPercent);
        }

        LogServing(assignment.Active, assignment.Canary ?? "none", assignment.CanaryPercent, source.Description, catalogue.Value.Items.Count);
        served = assignment;
        refused = null;
        health.NotDegraded();
        AdapterMetrics.ModelDegraded.Set(0);
    }

    private async Task<ServingModel> LoadVersionAsync(string version, CancellationToken cancellationToken)
    {
        byte[] bytes = await source.DownloadAsync(version, cancellationToken).ConfigureAwait(false);
        string origin = $"{source.Description} ({version})";
        // Load reads the file through the bounded reader (ModelFile): a crafted file is refused before anything is allocated for it.
        MetaModel model;
        try
        {
            model = MetaModel.Load(bytes, origin, device.Value);
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or EndOfStreamException)
        {
            throw new InvalidDataException($"{origin}: cannot be loaded: {e.Message}", e);
        }

        try
        {
            // Hyper-parameters within their ranges can still ask for a huge state per user; every batch holds one per user.
            long stateBytes = model.Module.FastStateSize * sizeof(float);
            if (stateBytes > options.Value.MaxFastStateBytes)
            {
                throw new InvalidDataException($"{origin}: its per-user state is {stateBytes:N0} bytes, above Adapter:MaxFastStateBytes ({options.Value.MaxFastStateBytes:N0})");
            }

            var serving = new ServingModel(version, model, new BatchRecommender(model, catalogue.Value.Items.Values.OrderBy(i => i.ItemId)));
            AdapterMetrics.ModelLoads.WithLabels("loaded").Inc();
            return serving;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Serving {Active} (canary {Canary} for {Percent}% of users) from {Source}, {Items} catalogue items; from the next batch")]
    private partial void LogServing(string active, string canary, double percent, string source, int items);

    [LoggerMessage(Level = LogLevel.Error, Message = "Refused {Assignment} from {Source}; the current models keep serving: {Reason}")]
    private partial void LogRefused(string assignment, string source, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Catalogue {Source} changed: {Items} items (revision {Revision}); preparing the served models for it")]
    private partial void LogCatalogue(string source, int items, long revision);

    [LoggerMessage(Level = LogLevel.Error, Message = "Catalogue {Source} changed but cannot be loaded; the previous one stays: {Reason}")]
    private partial void LogCatalogueRefused(string source, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Degraded: {Reason}")]
    private partial void LogDegraded(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model source {Source} unavailable: {Reason}")]
    private partial void LogUnavailable(string source, string reason);
}

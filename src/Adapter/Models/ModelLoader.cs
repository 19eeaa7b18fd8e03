using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Streaming.Shared.Data;
using Streaming.Shared.Hosting;
using Streaming.Shared.Learning;

namespace Streaming.Adapter.Models;

/// <summary>
/// Follows the model source: loads the first model before the service starts (a missing or bad model fails
/// start-up, naming the setting), then polls every <see cref="AdapterOptions.ModelPollMs"/> and loads a new
/// version in the background: read, checksum and manifest verified, weights checked finite, catalogue
/// prepared, and only then offered to the consume loop. A refused version is logged and counted, and the
/// current model keeps serving; it is tried again only when the source changes.
/// </summary>
public sealed partial class ModelLoader(
    IModelSource source,
    ModelSlot slot,
    IOptions<AdapterOptions> options,
    ConsumerHealth health,
    ILogger<ModelLoader> logger) : BackgroundService
{
    private readonly Lazy<IReadOnlyList<ItemInfo>> catalogue = new(() => [.. CatalogueSource.LoadItems(options.Value.Catalogue).Values.OrderBy(i => i.ItemId)]);
    private readonly Lazy<TorchSharp.torch.Device> device = new(() => TorchDevice.Resolve(options.Value.Device, "Adapter:Device"));
    private string? loaded;
    private string? refused;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        health.NotReady("loading the meta-model");
        NativeAllocator.KeepFreedMemory();
        if (options.Value.TensorThreads > 0)
        {
            TorchSharp.torch.set_num_threads(options.Value.TensorThreads);
        }

        string version = await source.ActiveVersionAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Adapter:Model: no meta-model at {source.Description}");
        try
        {
            await LoadAsync(version, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new InvalidOperationException($"Adapter:Model: {source.Description} cannot be served: {e.Message}", e);
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
                if (await source.ActiveVersionAsync(stoppingToken).ConfigureAwait(false) is { } version && version != loaded && version != refused)
                {
                    await LoadAsync(version, stoppingToken).ConfigureAwait(false);
                }
            }
            catch (InvalidDataException)
            {
                // Refused and logged by LoadAsync; the current model keeps serving.
            }
            catch (IOException e)
            {
                LogUnavailable(source.Description, e.Message);
            }
        }
    }

    private async Task LoadAsync(string version, CancellationToken cancellationToken)
    {
        var package = await source.DownloadAsync(version, cancellationToken).ConfigureAwait(false);
        MetaModel? model = null;
        try
        {
            model = MetaModel.Load(package.Bytes, $"{source.Description} ({version})", device.Value);
            var serving = new ServingModel(version, model, new BatchRecommender(model, catalogue.Value));
            slot.Offer(serving);
            AdapterMetrics.ModelLoads.WithLabels("loaded").Inc();
            if (loaded is not null)
            {
                AdapterMetrics.ModelInfo.RemoveLabelled(loaded, "active");
            }

            AdapterMetrics.ModelInfo.WithLabels(version, "active").Set(1);
            LogLoaded(version, source.Description, model.Manifest.Hyperparameters.Algorithm.ToString(), catalogue.Value.Count);
            loaded = version;
            refused = null;
        }
        catch (InvalidDataException e)
        {
            model?.Dispose();
            AdapterMetrics.ModelLoads.WithLabels("refused").Inc();
            LogRefused(version, source.Description, e.Message);
            refused = version;
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Meta-model {Version} from {Source} ready ({Algorithm}, {Items} catalogue items); it serves from the next batch")]
    private partial void LogLoaded(string version, string source, string algorithm, int items);

    [LoggerMessage(Level = LogLevel.Error, Message = "Meta-model {Version} from {Source} refused, the current model keeps serving: {Reason}")]
    private partial void LogRefused(string version, string source, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model source {Source} unavailable: {Reason}")]
    private partial void LogUnavailable(string source, string reason);
}

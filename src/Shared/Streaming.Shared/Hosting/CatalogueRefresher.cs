using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Streaming.Shared.Data;

namespace Streaming.Shared.Hosting;

/// <summary>Checks a <see cref="LiveCatalogue"/>'s source every <paramref name="interval"/> and reloads it when it changed.</summary>
public sealed partial class CatalogueRefresher(LiveCatalogue catalogue, TimeSpan interval, TimeProvider time, ILogger<CatalogueRefresher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                if (catalogue.Refresh())
                {
                    LogReloaded(catalogue.Source, catalogue.Items.Count, catalogue.Revision);
                }
            }
            catch (Exception e) when (e is DataFormatException or IOException)
            {
                LogRefused(catalogue.Source, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Catalogue {Source} reloaded: {Items} items (revision {Revision})")]
    private partial void LogReloaded(string source, int items, long revision);

    [LoggerMessage(Level = LogLevel.Error, Message = "Catalogue {Source} changed but cannot be loaded; the previous one stays: {Reason}")]
    private partial void LogRefused(string source, string reason);
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Streaming.Local;

/// <summary>
/// A private redis-server: a free loopback port, a temporary directory, no persistence. For the embedded demo,
/// benchmarks and tests; never a shared instance. Can be stopped and restarted on the same port (an outage).
/// </summary>
public sealed class LocalRedis : IAsyncDisposable
{
    private readonly string executable;
    private readonly string directory;
    private readonly bool cluster;
    private Process? server;

    private LocalRedis(string executable, bool cluster)
    {
        this.executable = executable;
        this.cluster = cluster;
        directory = Directory.CreateTempSubdirectory("streaming-redis-").FullName;
        Port = FreePort();
    }

    public int Port { get; }

    /// <summary>StackExchange.Redis configuration string for this server.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    public IConnectionMultiplexer Connection { get; private set; } = null!;

    /// <summary>
    /// Starts a server and connects to it; null, with the reason, where none can be started. With
    /// <paramref name="cluster"/>, the server is a one-node Redis Cluster owning every slot: commands are
    /// checked as on a real cluster (a script's keys must share a slot), which a single node does not do.
    /// </summary>
    public static async Task<(LocalRedis? Redis, string? Unavailable)> TryStartAsync(bool cluster = false)
    {
        if (FindOnPath("redis-server") is not { } executable)
        {
            return (null, "redis-server is not on PATH");
        }

        var redis = new LocalRedis(executable, cluster);
        redis.StartServer();
        for (int attempt = 0; attempt < 100; attempt++)
        {
            try
            {
                if (cluster && !await OwnEverySlotAsync(redis.Configuration).ConfigureAwait(false))
                {
                    await redis.DisposeAsync().ConfigureAwait(false);
                    return (null, "the one-node cluster did not reach cluster_state:ok within 5 s");
                }

                redis.Connection = await ConnectionMultiplexer.ConnectAsync($"{redis.Configuration},abortConnect=true,connectTimeout=500").ConfigureAwait(false);
                return (redis, null);
            }
            catch (RedisConnectionException) when (!redis.server!.HasExited)
            {
                await Task.Delay(50).ConfigureAwait(false);
            }
            catch (RedisConnectionException e)
            {
                string reason = $"redis-server exited with code {redis.server!.ExitCode}: {e.Message}";
                await redis.DisposeAsync().ConfigureAwait(false);
                return (null, reason);
            }
        }

        await redis.DisposeAsync().ConfigureAwait(false);
        return (null, "redis-server did not answer within 5 s");
    }

    /// <summary>Kills the server (an outage); <see cref="Restart"/> brings it back on the same port.</summary>
    public void Stop()
    {
        if (server is { } running)
        {
            running.Kill(entireProcessTree: true);
            running.WaitForExit();
            running.Dispose();
            server = null;
        }
    }

    /// <summary>Starts the server again on the same port; connections reconnect by themselves.</summary>
    public void Restart() => StartServer();

    public async ValueTask DisposeAsync()
    {
        if (Connection is not null)
        {
            await Connection.DisposeAsync().ConfigureAwait(false);
        }

        Stop();
        Directory.Delete(directory, recursive: true);
    }

    // A new cluster node owns no slots: give it all of them and wait until the cluster says it is up.
    private static async Task<bool> OwnEverySlotAsync(string configuration)
    {
        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{configuration},abortConnect=true,connectTimeout=500,allowAdmin=true").ConfigureAwait(false);
        var server = admin.GetServer(configuration);
        string info = (string)(await server.ExecuteAsync("CLUSTER", "INFO").ConfigureAwait(false))!;
        if (!info.Contains("cluster_slots_assigned:16384", StringComparison.Ordinal))
        {
            await server.ExecuteAsync("CLUSTER", "ADDSLOTSRANGE", 0, 16383).ConfigureAwait(false);
        }

        for (int attempt = 0; attempt < 100; attempt++)
        {
            info = (string)(await server.ExecuteAsync("CLUSTER", "INFO").ConfigureAwait(false))!;
            if (info.Contains("cluster_state:ok", StringComparison.Ordinal))
            {
                return true;
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        return false;
    }

    private void StartServer()
    {
        var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", directory, "--save", "", "--appendonly", "no", "--protected-mode", "yes" })
        {
            start.ArgumentList.Add(arg);
        }

        if (cluster)
        {
            foreach (var arg in new[] { "--cluster-enabled", "yes", "--cluster-config-file", Path.Combine(directory, "nodes.conf"), "--cluster-announce-ip", "127.0.0.1" })
            {
                start.ArgumentList.Add(arg);
            }
        }

        server = Process.Start(start)!;
        server.OutputDataReceived += (_, _) => { };
        server.ErrorDataReceived += (_, _) => { };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .Concat(["/usr/bin", "/usr/local/bin", "/usr/sbin"])
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}

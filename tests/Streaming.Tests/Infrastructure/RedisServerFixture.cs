using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Streaming.Tests.Infrastructure;

/// <summary>
/// A private redis-server for one test class: a free loopback port, a temporary directory, no persistence.
/// Where redis-server is missing the tests skip, saying so; under CI=true that is a failure.
/// </summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    private Process? server;
    private string? directory;
    private string? unavailable;

    public IConnectionMultiplexer Connection => connection ?? throw new InvalidOperationException("Require() first");

    public int Port { get; private set; }

    private ConnectionMultiplexer? connection;

    /// <summary>The connection, or a skip (a failure under CI) when no redis-server could be started.</summary>
    public IConnectionMultiplexer Require()
    {
        if (connection is not null)
        {
            return connection;
        }

        string message = $"redis-server is not available ({unavailable}); run ./streaming, which installs it";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(message + "; CI requires it.");
        }

        Assert.Skip(message + "; skipped.");
        return null!;
    }

    public async ValueTask InitializeAsync()
    {
        if (FindOnPath("redis-server") is null)
        {
            unavailable = "not on PATH";
            return;
        }

        directory = Directory.CreateTempSubdirectory("streaming-redis-").FullName;
        Port = FreePort();
        StartServer();
        for (int attempt = 0; attempt < 100; attempt++)
        {
            try
            {
                connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{Port},abortConnect=true,connectTimeout=500");
                return;
            }
            catch (RedisConnectionException) when (!server!.HasExited)
            {
                await Task.Delay(50);
            }
            catch (RedisConnectionException e)
            {
                unavailable = $"redis-server exited with code {server!.ExitCode}: {e.Message}";
                return;
            }
        }

        unavailable = "redis-server did not answer within 5 s";
    }

    /// <summary>Kills the server (an outage); <see cref="RestartServer"/> brings it back on the same port.</summary>
    public void StopServer()
    {
        server!.Kill(entireProcessTree: true);
        server.WaitForExit();
        server.Dispose();
        server = null;
    }

    /// <summary>Starts the server again on the same port; connections reconnect by themselves.</summary>
    public void RestartServer() => StartServer();

    public async ValueTask DisposeAsync()
    {
        if (connection is not null)
        {
            await connection.DisposeAsync();
        }

        if (server is { HasExited: false })
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
        }

        server?.Dispose();
        if (directory is not null)
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private void StartServer()
    {
        var start = new ProcessStartInfo(FindOnPath("redis-server")!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", directory!, "--save", "", "--appendonly", "no", "--protected-mode", "yes" })
        {
            start.ArgumentList.Add(arg);
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

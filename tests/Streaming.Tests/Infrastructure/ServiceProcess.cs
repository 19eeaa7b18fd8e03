using System.Collections.Concurrent;
using System.Diagnostics;

namespace Streaming.Tests.Infrastructure;

/// <summary>A service (Ingest, Adapter, ...) run as its own process from the build output, for end-to-end tests.</summary>
public sealed class ServiceProcess : IDisposable
{
    private readonly Process process;
    private readonly ConcurrentQueue<string> output = new();

    private ServiceProcess(Process process)
    {
        this.process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Output => string.Join(Environment.NewLine, output);

    public bool HasExited => process.HasExited;

    public int ExitCode => process.ExitCode;

    /// <summary>Starts <c>artifacts/bin/{project}/release/{project}.dll</c> with <paramref name="environment"/> as its configuration.</summary>
    public static ServiceProcess Start(string project, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "..", "..", project, "release", project + ".dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"{dll} is missing: build the solution first (./streaming test does)");
        }

        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(dll);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        return new ServiceProcess(Process.Start(start)!);
    }

    /// <summary>
    /// The service's HTTP base address, from Kestrel's "Now listening on" line (the environment must let
    /// <c>Microsoft.Hosting.Lifetime</c> log at Information: <see cref="PipelineEnvironment.WithHttp"/>).
    /// </summary>
    public async Task<Uri> HttpAddressAsync(TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            if (output.FirstOrDefault(l => l.Contains("Now listening on: ", StringComparison.Ordinal)) is { } line)
            {
                return new Uri(line[(line.IndexOf("Now listening on: ", StringComparison.Ordinal) + "Now listening on: ".Length)..].Trim());
            }

            Assert.False(process.HasExited, "the service exited: " + Output);
            await Task.Delay(100);
        }

        throw new TimeoutException("the service did not say where it listens: " + Output);
    }

    /// <summary>SIGTERM: the orchestrator's stop (the host shuts down, offsets are committed, the group is left).</summary>
    public void Stop()
    {
        if (!process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
        }
    }

    /// <summary>kill -9: no shutdown hooks, no offset commit, no consumer-group leave.</summary>
    public void KillHard()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
    }

    public bool WaitForExit(TimeSpan timeout) => process.WaitForExit(timeout);

    public void Dispose()
    {
        KillHard();
        process.Dispose();
    }
}

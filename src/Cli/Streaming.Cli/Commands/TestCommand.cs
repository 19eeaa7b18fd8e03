using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;

namespace Streaming.Cli.Commands;

/// <summary>
/// <c>streaming test</c>: runs the xunit suite (built by the launcher) and ends with the line
/// <c>N passed, N failed, N skipped</c> that CI reads; exits non-zero on any failure or when no test ran.
/// </summary>
internal static class TestCommand
{
    public static Command Create()
    {
        var filters = new Argument<string[]>("xunit-args")
        {
            Description = "Extra arguments for the xunit runner, e.g. -class Streaming.Tests.Learning.ModelFileTests or -method '*Gradient*'.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var command = new Command("test", "Run the test suite and print 'N passed, N failed, N skipped'.") { filters };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(parse => Run([.. parse.GetValue(filters) ?? [], .. parse.UnmatchedTokens]));
        return command;
    }

    public static int Run(IReadOnlyList<string> extra)
    {
        string root = Environment.GetEnvironmentVariable("STREAMING_ROOT") ?? Environment.CurrentDirectory;
        string testDll = Path.Combine(root, "artifacts", "bin", "Streaming.Tests", "release", "Streaming.Tests.dll");
        if (!File.Exists(testDll))
        {
            Console.Error.WriteLine($"error: {testDll} is missing; run the tests through ./streaming, which builds them");
            Console.WriteLine("0 passed, 1 failed");
            return 2;
        }

        string report = Path.Combine(Path.GetTempPath(), $"streaming-tests-{Environment.ProcessId}.ctrf.json");
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, WorkingDirectory = root };
        foreach (var arg in new[] { testDll, "-noColor", "-noLogo", "-result-ctrf", report }.Concat(extra))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the test runner");
        process.WaitForExit();

        var (passed, failed, skipped) = ReadSummary(report);
        File.Delete(report);
        if (process.ExitCode != 0 && failed == 0)
        {
            // The runner died (a native abort, say) before it could report a failure: count it as one.
            Console.Error.WriteLine($"error: the test runner exited with code {process.ExitCode}");
            failed = 1;
        }

        if (passed + failed == 0)
        {
            Console.Error.WriteLine("error: no test ran");
            failed = Math.Max(failed, 1);
        }

        Console.WriteLine($"{passed} passed, {failed} failed, {skipped} skipped");
        return failed > 0 ? 1 : 0;
    }

    private static (int Passed, int Failed, int Skipped) ReadSummary(string report)
    {
        if (!File.Exists(report))
        {
            return (0, 0, 0);
        }

        using var json = JsonDocument.Parse(File.ReadAllText(report));
        var summary = json.RootElement.GetProperty("results").GetProperty("summary");
        int Get(string name) => summary.TryGetProperty(name, out var v) ? v.GetInt32() : 0;
        return (Get("passed"), Get("failed") + Get("other"), Get("skipped") + Get("pending"));
    }
}

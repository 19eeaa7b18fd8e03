using System.CommandLine;

namespace Streaming.Cli.Commands;

internal static class DemoCommand
{
    public static Command Create() => new("demo", "TODO");
}

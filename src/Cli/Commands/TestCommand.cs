using System.CommandLine;

namespace Streaming.Cli.Commands;

internal static class TestCommand
{
    public static Command Create() => new("test", "TODO");
}

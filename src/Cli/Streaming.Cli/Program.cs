using System.CommandLine;
using Streaming.Cli.Commands;
using Streaming.Shared.Data;

var root = new RootCommand("Streaming: few-shot personalisation of brand-new users (MeLU-style meta-learning).")
{
    DemoCommand.Create(),
    TrainCommand.Create(),
    EvalCommand.Create(),
    CompareCommand.Create(),
    BenchCommand.Create(),
    TopCommand.Create(),
    TestCommand.Create(),
    MockBrokerCommand.Create(),
    PublishCommand.Create(),
    ConsumeCommand.Create(),
    ModelsCommand.Create(),
};

try
{
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is ArgumentException or DataFormatException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or InvalidOperationException)
{
    // Bad input or a refused model: say what and where, without a stack trace.
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

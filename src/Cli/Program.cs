using System.CommandLine;
using Streaming.Cli.Commands;

var root = new RootCommand("Streaming: few-shot personalisation of brand-new users (MeLU-style meta-learning).")
{
    DemoCommand.Create(),
    TrainCommand.Create(),
    EvalCommand.Create(),
    BenchCommand.Create(),
    TestCommand.Create(),
};
return await root.Parse(args).InvokeAsync();

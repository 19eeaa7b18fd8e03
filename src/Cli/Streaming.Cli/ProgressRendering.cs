using Spectre.Console;
using Streaming.Learning.Training;

namespace Streaming.Cli;

/// <summary>Renders training progress: live bars on a terminal, one line per epoch otherwise (CI logs).</summary>
internal static class ProgressRendering
{
    public static void Run(string title, Action<IProgress<TrainingProgress>> work)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive || Console.IsOutputRedirected)
        {
            work(new SynchronousProgress(p =>
            {
                if (p.Validation is { } v)
                {
                    Console.WriteLine($"  epoch {p.Epoch}/{p.Epochs}: loss {p.Loss:F4}, validation MAE {v.Mae:F4} nDCG@3 {v.Ndcg3:F4}{(p.Improved ? " (best, checkpointed)" : "")}");
                }
            }));
            return;
        }

        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                ProgressTask? current = null;
                int currentEpoch = 0;
                work(new SynchronousProgress(p =>
                {
                    if (p.Epoch != currentEpoch)
                    {
                        current?.StopTask();
                        current = ctx.AddTask($"{title} epoch {p.Epoch}/{p.Epochs}", maxValue: p.Batches);
                        currentEpoch = p.Epoch;
                    }

                    current!.Value = p.Batch;
                    current.Description = p.Validation is { } v
                        ? $"epoch {p.Epoch}/{p.Epochs} loss {p.Loss:F3} val MAE {v.Mae:F4}{(p.Improved ? " *" : "")}"
                        : $"epoch {p.Epoch}/{p.Epochs} loss {p.Loss:F3}";
                }));
                current?.StopTask();
            });
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to the thread pool and reorder updates).</summary>
    private sealed class SynchronousProgress(Action<TrainingProgress> handler) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => handler(value);
    }
}

using Spectre.Console;
using Streaming.Cli.Commands;
using Streaming.Shared.Online;
using Streaming.Shared.Registry;

namespace Streaming.Tests.Cli;

[Trait("Kind", "Unit")]
public sealed class OnlineTableTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Table_TwoArms_ShowsOneRowPerVersionWithItsRoleAndFigures(bool compact)
    {
        var tallies = new[]
        {
            new ArmTally("v1@v2", Events: 40, Users: 4, Hits: 10, ReciprocalRanks: 5, ReciprocalRanksSquared: 4, Rated: 10, AbsoluteErrors: 5, SquaredErrors: 3, UserHitRates: 1, UserHitRatesSquared: 0.3),
            new ArmTally("v2@v2", Events: 20, Users: 2, Hits: 2, ReciprocalRanks: 1, ReciprocalRanksSquared: 1, Rated: 0, AbsoluteErrors: 0, SquaredErrors: 0, UserHitRates: 0.2, UserHitRatesSquared: 0.02),
        };
        var routing = new ModelRouting { Active = "v1", Canary = "v2", CanaryPercent = 10 };
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 240;

        console.Write(OnlineModelsCommands.Table(tallies, routing, compact));

        var rows = output.ToString().Split('\n');
        Assert.Contains(rows, r => r.Contains("v1", StringComparison.Ordinal) && r.Contains("active", StringComparison.Ordinal) && r.Contains("0.2500", StringComparison.Ordinal) && r.Contains("0.5000", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.Contains("v2", StringComparison.Ordinal) && r.Contains("canary (10%)", StringComparison.Ordinal) && r.Contains("0.1000", StringComparison.Ordinal) && r.Contains(" - ", StringComparison.Ordinal));
    }

    [Fact]
    public void Intervals_KnownValues_MatchTheTextbook()
    {
        Assert.Equal(1.959964, Intervals.Z(0.95), 5);
        Assert.Equal(2.575829, Intervals.Z(0.99), 5);
        var (low, high) = Intervals.Wilson(0, 10, 0.95);   // Wilson: (0, z^2 / (n + z^2)) for no successes
        Assert.Equal((0.0, 3.8415 / 13.8415), (low, Math.Round(high, 4)), (a, b) => Math.Abs(a.Item1 - b.Item1) < 1e-9 && Math.Abs(a.Item2 - Math.Round(b.Item2, 4)) < 1e-4);
    }
}

using Streaming.Learning.Training;
using Xunit;

namespace Streaming.Tests.Learning;

[Trait("Kind", "Unit")]
public sealed class ServedListCalibrationTests
{
    [Fact]
    public void Choose_KeepsTheBestWeight_WhenEveryUserGainsOverTheNeutralOne()
    {
        // 40 users; weight 4 finds one more liked item in 10 of them (+0.1 each) and loses none.
        double[] Users(double gain, int gainers) => [.. Enumerable.Range(0, 40).Select(u => 0.3 + (u < gainers ? gain : 0))];
        var recalls = new Dictionary<double, double[]> { [1] = Users(0, 0), [2] = Users(0.1, 5), [4] = Users(0.1, 10), [8] = Users(0.1, 8) };
        var asked = new List<double>();

        var choice = ServedListCalibration.Choose([1, 2, 4, 8], w => { asked.Add(w); return recalls[w]; });

        Assert.Equal(4, choice.Chosen);
        Assert.Equal([1, 2, 4, 8], asked);
        Assert.Equal(0.325, choice.MeanRecalls[2], 6);
        Assert.Equal(0.025, choice.Gain, 6);
        Assert.EndsWith("chose 4", choice.Describe());
    }

    [Fact]
    public void Choose_KeepsTheNeutralWeight_WhenTheBestGainIsWithinNoise()
    {
        // Weight 2 is better on average (+0.01) but half the users gain 0.2 and half lose 0.18: noise.
        double[] neutral = [.. Enumerable.Range(0, 20).Select(_ => 0.4)];
        double[] noisy = [.. Enumerable.Range(0, 20).Select(u => u % 2 == 0 ? 0.6 : 0.22)];

        var choice = ServedListCalibration.Choose([1, 2], w => w == 1 ? neutral : noisy);

        Assert.Equal(2, choice.Best);
        Assert.Equal(1, choice.Chosen);
        Assert.Contains("not more than 2 standard errors", choice.Describe());
    }

    [Fact]
    public void Choose_SkipsUsersWhoDoNotCount_AndKeepsTheEarlierWeightOnATie()
    {
        double[] a = [0.2, double.NaN, 0.4, 0.6];
        Assert.Equal(1, ServedListCalibration.Choose([1, 2, 4], _ => a).Chosen);
        Assert.Equal(0.4, ServedListCalibration.Choose([1, 2, 4], _ => a).MeanRecalls[0], 9);
    }
}

namespace Streaming.Shared.Evaluation.TopN;

/// <summary>Argument checks shared by the recommenders.</summary>
internal static class TopNChecks
{
    public static void ScoreShape(int users, int candidates, int scores)
    {
        if (scores != (long)users * candidates)
        {
            throw new ArgumentException($"Scores need {users} x {candidates} = {(long)users * candidates} values, got {scores}.", nameof(scores));
        }
    }
}

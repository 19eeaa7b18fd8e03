namespace Streaming.Shared.Data;

/// <summary>A user's demographic profile, as raw tokens from the source files (MovieLens coding).</summary>
/// <param name="Gender">"M" or "F".</param>
/// <param name="Age">MovieLens age band ("1", "18", "25", ...).</param>
/// <param name="Occupation">MovieLens occupation code ("0".."20").</param>
/// <param name="Zip">Zip code as written.</param>
public sealed record UserProfile(string Gender, string Age, string Occupation, string Zip)
{
    /// <summary>A profile with every field unknown (a user who has told us nothing).</summary>
    public static UserProfile Unknown { get; } = new("", "", "", "");
}

/// <summary>An item with the MeLU side features (MPAA rate, genres, directors, actors) and its plot text.</summary>
/// <param name="ItemId">The item id of the source data.</param>
/// <param name="Title">Display title.</param>
/// <param name="Year">Release year, when known; the MeLU protocol splits existing (&lt;= 1997) from new items on it.</param>
/// <param name="Rate">MPAA rate ("PG-13", ...), empty when unknown.</param>
/// <param name="Genres">Genre names.</param>
/// <param name="Directors">Director names.</param>
/// <param name="Actors">Actor names.</param>
/// <param name="Plot">
/// The plot summary, empty when unknown: not a MeLU feature, the text modality's input (with title and genres,
/// see <c>Streaming.Text.ItemText</c>).
/// </param>
public sealed record ItemInfo(
    int ItemId,
    string Title,
    int? Year,
    string Rate,
    IReadOnlyList<string> Genres,
    IReadOnlyList<string> Directors,
    IReadOnlyList<string> Actors,
    string Plot = "");

/// <summary>One explicit rating.</summary>
public readonly record struct Rating(int UserId, int ItemId, float Value)
{
    /// <summary>The lowest rating of the scale (MovieLens: 1 star).</summary>
    public const float MinValue = 1f;

    /// <summary>The highest rating of the scale (MovieLens: 5 stars).</summary>
    public const float MaxValue = 5f;
}

/// <summary>
/// Users, items and ratings as loaded from one folder (or generated). Ratings keep the source order,
/// which for MovieLens is the order of the original file within each user.
/// </summary>
public sealed class RatingsDataset
{
    public RatingsDataset(
        string source,
        IReadOnlyDictionary<int, UserProfile> users,
        IReadOnlyDictionary<int, ItemInfo> items,
        IReadOnlyList<Rating> ratings)
    {
        Source = source;
        Users = users;
        Items = items;
        Ratings = ratings;
    }

    /// <summary>Where the data came from (a folder, or "synthetic(seed=...)").</summary>
    public string Source { get; }

    public IReadOnlyDictionary<int, UserProfile> Users { get; }

    public IReadOnlyDictionary<int, ItemInfo> Items { get; }

    public IReadOnlyList<Rating> Ratings { get; }
}

/// <summary>A meta-learning task: one user's support set (to adapt on) and query set (to predict).</summary>
public sealed record UserTask(int UserId, IReadOnlyList<Rating> Support, IReadOnlyList<Rating> Query);

/// <summary>A file that cannot be read: names the file, the 1-based line and the reason.</summary>
public sealed class DataFormatException : Exception
{
    public DataFormatException(string file, int line, string reason)
        : base($"{file}:{line}: {reason}")
    {
        File = file;
        Line = line;
        Reason = reason;
    }

    public DataFormatException() { File = ""; Reason = ""; }

    public DataFormatException(string message) : base(message) { File = ""; Reason = message; }

    public DataFormatException(string message, Exception innerException) : base(message, innerException) { File = ""; Reason = message; }

    public string File { get; }

    public int Line { get; }

    public string Reason { get; }
}

using System.Globalization;

namespace Streaming.Shared.Data;

/// <summary>
/// Reads MovieLens-style folders: RecBole atomic files (<c>*.inter</c>, <c>*.user</c>, <c>*.item</c>)
/// and the original <c>::</c>-separated ML-1M files, plus the MeLU side-information file
/// (<c>movies_extrainfos.dat</c>). Every reader fails with <see cref="DataFormatException"/> naming
/// the file and the 1-based line.
/// </summary>
public static class DatasetLoader
{
    private const string DatSeparator = "::";
    private const string NotAvailable = "N/A";
    private const int MaxColumns = 64;

    /// <summary>
    /// Loads a folder. Ratings come from the first <c>*.inter</c> file (ordinal name order), else
    /// <c>ratings.dat</c>; users from <c>users.dat</c>, else <c>*.user</c>; items from
    /// <c>movies_extrainfos.dat</c> (completed from <c>movies.dat</c> for items it lacks), else
    /// <c>*.item</c>, else <c>movies.dat</c>.
    /// </summary>
    /// <remarks>
    /// Ratings that reference users or items absent from the user/item files are kept as they are:
    /// the protocol (<see cref="MeluProtocol"/>) filters on <see cref="RatingsDataset.Items"/>, and
    /// callers decide what an unknown user means.
    /// </remarks>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder lacks ratings, users or items; the message says which.</exception>
    public static RatingsDataset Load(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var dir = Path.GetFullPath(directory);
        if (!Directory.Exists(dir))
        {
            throw new DirectoryNotFoundException($"Dataset folder '{dir}' does not exist.");
        }

        var interFile = FirstWithExtension(dir, ".inter");
        var ratingsDat = Path.Combine(dir, "ratings.dat");
        var usersDat = Path.Combine(dir, "users.dat");
        var userFile = FirstWithExtension(dir, ".user");
        var extraInfos = Path.Combine(dir, "movies_extrainfos.dat");
        var moviesDat = Path.Combine(dir, "movies.dat");
        var itemFile = FirstWithExtension(dir, ".item");

        var missing = new List<string>();
        if (interFile is null && !File.Exists(ratingsDat))
        {
            missing.Add("ratings (a *.inter file or ratings.dat)");
        }

        if (!File.Exists(usersDat) && userFile is null)
        {
            missing.Add("users (users.dat or a *.user file)");
        }

        if (!File.Exists(extraInfos) && itemFile is null && !File.Exists(moviesDat))
        {
            missing.Add("items (movies_extrainfos.dat, a *.item file or movies.dat)");
        }

        if (missing.Count > 0)
        {
            throw new FileNotFoundException($"Dataset folder '{dir}' is missing {string.Join("; ", missing)}.");
        }

        var ratings = interFile is not null ? ReadRecBoleInter(interFile) : ReadRatingsDat(ratingsDat);
        var users = File.Exists(usersDat) ? ReadUsersDat(usersDat) : ReadRecBoleUsers(userFile!);
        return new RatingsDataset(dir, users, LoadItems(dir), ratings);
    }

    /// <summary>
    /// The item catalogue of a folder alone (what a service needs): <c>movies_extrainfos.dat</c> completed from
    /// <c>movies.dat</c>, else a <c>*.item</c> file, else <c>movies.dat</c>.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder has none of them.</exception>
    public static IReadOnlyDictionary<int, ItemInfo> LoadItems(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var dir = Path.GetFullPath(directory);
        var extraInfos = Path.Combine(dir, "movies_extrainfos.dat");
        var moviesDat = Path.Combine(dir, "movies.dat");
        if (File.Exists(extraInfos))
        {
            var extra = ReadMovieExtraInfos(extraInfos);
            return File.Exists(moviesDat) ? Complete(extra, ReadMoviesDat(moviesDat)) : extra;
        }

        if (FirstWithExtension(dir, ".item") is { } itemFile)
        {
            return ReadRecBoleItems(itemFile);
        }

        return File.Exists(moviesDat)
            ? ReadMoviesDat(moviesDat)
            : throw new FileNotFoundException($"Folder '{dir}' has no item catalogue (movies_extrainfos.dat, a *.item file or movies.dat).");
    }

    /// <summary>Reads a RecBole <c>.inter</c> file; needs the columns <c>user_id</c>, <c>item_id</c>, <c>rating</c>.</summary>
    public static IReadOnlyList<Rating> ReadRecBoleInter(string path)
    {
        var ratings = new List<Rating>(EstimateLines(path));
        Span<Range> ranges = stackalloc Range[MaxColumns + 1];
        int columns = 0, userCol = 0, itemCol = 0, ratingCol = 0;
        foreach (var (line, lineNo) in Lines(path))
        {
            if (lineNo == 1)
            {
                var header = ParseHeader(path, line, out columns);
                userCol = Require(header, path, "user_id");
                itemCol = Require(header, path, "item_id");
                ratingCol = Require(header, path, "rating");
                continue;
            }

            if (line.Length == 0)
            {
                continue;
            }

            var span = line.AsSpan();
            var fields = ranges[..(columns + 1)];
            CheckCount(path, lineNo, span.Split(fields, '\t'), columns);
            ratings.Add(new Rating(
                ParseId(path, lineNo, span[fields[userCol]], "user id"),
                ParseId(path, lineNo, span[fields[itemCol]], "item id"),
                ParseRating(path, lineNo, span[fields[ratingCol]])));
        }

        RequireHeaderSeen(path, columns);
        return ratings;
    }

    /// <summary>Reads an ML-1M <c>ratings.dat</c> file: <c>UserID::MovieID::Rating::Timestamp</c>.</summary>
    public static IReadOnlyList<Rating> ReadRatingsDat(string path)
    {
        var ratings = new List<Rating>(EstimateLines(path));
        Span<Range> fields = stackalloc Range[5];
        foreach (var (line, lineNo) in Lines(path))
        {
            if (line.Length == 0)
            {
                continue;
            }

            var span = line.AsSpan();
            CheckCount(path, lineNo, span.Split(fields, DatSeparator), 4);
            ratings.Add(new Rating(
                ParseId(path, lineNo, span[fields[0]], "user id"),
                ParseId(path, lineNo, span[fields[1]], "item id"),
                ParseRating(path, lineNo, span[fields[2]])));
        }

        return ratings;
    }

    /// <summary>Reads an ML-1M <c>users.dat</c> file: <c>UserID::Gender::Age::Occupation::Zip-code</c>.</summary>
    public static IReadOnlyDictionary<int, UserProfile> ReadUsersDat(string path)
    {
        var users = new Dictionary<int, UserProfile>();
        Span<Range> fields = stackalloc Range[6];
        foreach (var (line, lineNo) in Lines(path))
        {
            if (line.Length == 0)
            {
                continue;
            }

            var span = line.AsSpan();
            CheckCount(path, lineNo, span.Split(fields, DatSeparator), 5);
            var id = ParseId(path, lineNo, span[fields[0]], "user id");
            var profile = new UserProfile(
                Token(span[fields[1]]), Token(span[fields[2]]), Token(span[fields[3]]), Token(span[fields[4]]));
            AddUnique(users, id, profile, path, lineNo, "user");
        }

        return users;
    }

    /// <summary>
    /// Reads a RecBole <c>.user</c> file; needs <c>user_id</c>, and maps the optional
    /// <c>gender</c>, <c>age</c>, <c>occupation</c>, <c>zip_code</c> columns by name.
    /// </summary>
    public static IReadOnlyDictionary<int, UserProfile> ReadRecBoleUsers(string path)
    {
        var users = new Dictionary<int, UserProfile>();
        Span<Range> ranges = stackalloc Range[MaxColumns + 1];
        int columns = 0, idCol = 0, genderCol = -1, ageCol = -1, occupationCol = -1, zipCol = -1;
        foreach (var (line, lineNo) in Lines(path))
        {
            if (lineNo == 1)
            {
                var header = ParseHeader(path, line, out columns);
                idCol = Require(header, path, "user_id");
                genderCol = Optional(header, "gender");
                ageCol = Optional(header, "age");
                occupationCol = Optional(header, "occupation");
                zipCol = Optional(header, "zip_code");
                continue;
            }

            if (line.Length == 0)
            {
                continue;
            }

            var span = line.AsSpan();
            var fields = ranges[..(columns + 1)];
            CheckCount(path, lineNo, span.Split(fields, '\t'), columns);
            var id = ParseId(path, lineNo, span[fields[idCol]], "user id");
            var profile = new UserProfile(
                Column(span, fields, genderCol),
                Column(span, fields, ageCol),
                Column(span, fields, occupationCol),
                Column(span, fields, zipCol));
            AddUnique(users, id, profile, path, lineNo, "user");
        }

        RequireHeaderSeen(path, columns);
        return users;
    }

    /// <summary>
    /// The RecBole <c>.item</c> columns read as the item's plot text, in order of preference: the first one the
    /// header has is used (RecBole's own MovieLens files have none; other datasets call it one of these).
    /// </summary>
    public static IReadOnlyList<string> RecBoleTextColumns { get; } = ["plot", "description", "overview", "summary", "text"];

    /// <summary>
    /// Reads a RecBole <c>.item</c> file; needs <c>item_id</c>, and maps the optional
    /// <c>movie_title</c>, <c>release_year</c>, <c>genre</c> (space-separated) columns by name, and the first of
    /// <see cref="RecBoleTextColumns"/> present as <see cref="ItemInfo.Plot"/>.
    /// RecBole items carry no rate, directors or actors: those stay empty.
    /// </summary>
    public static IReadOnlyDictionary<int, ItemInfo> ReadRecBoleItems(string path)
    {
        var items = new Dictionary<int, ItemInfo>();
        Span<Range> ranges = stackalloc Range[MaxColumns + 1];
        int columns = 0, idCol = 0, titleCol = -1, yearCol = -1, genreCol = -1, textCol = -1;
        foreach (var (line, lineNo) in Lines(path))
        {
            if (lineNo == 1)
            {
                var header = ParseHeader(path, line, out columns);
                idCol = Require(header, path, "item_id");
                titleCol = Optional(header, "movie_title");
                yearCol = Optional(header, "release_year");
                genreCol = Optional(header, "genre");
                textCol = RecBoleTextColumns.Select(name => Optional(header, name)).FirstOrDefault(c => c >= 0, -1);
                continue;
            }

            if (line.Length == 0)
            {
                continue;
            }

            var span = line.AsSpan();
            var fields = ranges[..(columns + 1)];
            CheckCount(path, lineNo, span.Split(fields, '\t'), columns);
            var id = ParseId(path, lineNo, span[fields[idCol]], "item id");
            var genres = genreCol < 0 ? [] : SplitList(span[fields[genreCol]], ' ');
            var item = new ItemInfo(
                id,
                Column(span, fields, titleCol),
                yearCol < 0 ? null : ParseYear(span[fields[yearCol]]),
                "",
                genres,
                [],
                [],
                Column(span, fields, textCol));
            AddUnique(items, id, item, path, lineNo, "item");
        }

        RequireHeaderSeen(path, columns);
        return items;
    }

    /// <summary>
    /// Reads an ML-1M <c>movies.dat</c> file: <c>MovieID::Title (Year)::Genre|Genre</c>. The year
    /// comes from the title's trailing "(1995)", which stays part of the title.
    /// </summary>
    public static IReadOnlyDictionary<int, ItemInfo> ReadMoviesDat(string path)
    {
        var items = new Dictionary<int, ItemInfo>();
        Span<Range> fields = stackalloc Range[4];
        foreach (var (line, lineNo) in Lines(path))
        {
            if (line.Length == 0)
            {
                continue;
            }

            var span = line.AsSpan();
            CheckCount(path, lineNo, span.Split(fields, DatSeparator), 3);
            var id = ParseId(path, lineNo, span[fields[0]], "item id");
            var title = span[fields[1]].Trim();
            var item = new ItemInfo(id, title.ToString(), YearFromTitle(title), "", SplitList(span[fields[2]], '|'), [], []);
            AddUnique(items, id, item, path, lineNo, "item");
        }

        return items;
    }

    /// <summary>
    /// Reads the MeLU side information, <c>movies_extrainfos.dat</c>:
    /// <c>MovieID::Title::Year::Rate::Released::Genre, ...::Director, ...::Writer, ...::Actor, ...::Plot::PosterURL</c>.
    /// "N/A" means missing; lists are comma-separated, trimmed, without empties. The plot is kept as
    /// <see cref="ItemInfo.Plot"/> (the text modality's input); writers and poster are ignored.
    /// </summary>
    public static IReadOnlyDictionary<int, ItemInfo> ReadMovieExtraInfos(string path)
    {
        var items = new Dictionary<int, ItemInfo>();
        Span<Range> fields = stackalloc Range[12];
        foreach (var (line, lineNo) in Lines(path))
        {
            if (line.Length == 0)
            {
                continue;
            }

            var span = line.AsSpan();
            CheckCount(path, lineNo, span.Split(fields, DatSeparator), 11);
            var id = ParseId(path, lineNo, span[fields[0]], "item id");
            var item = new ItemInfo(
                id,
                Token(span[fields[1]]),
                ParseYear(span[fields[2]]),
                Token(span[fields[3]]),
                SplitList(span[fields[5]], ','),
                SplitList(span[fields[6]], ','),
                SplitList(span[fields[8]], ','),
                Token(span[fields[9]]));
            AddUnique(items, id, item, path, lineNo, "item");
        }

        return items;
    }

    /// <summary>Adds the movies.dat items that extrainfos lacks, and fills an empty title or genre list.</summary>
    private static Dictionary<int, ItemInfo> Complete(
        IReadOnlyDictionary<int, ItemInfo> extra, IReadOnlyDictionary<int, ItemInfo> movies)
    {
        var items = new Dictionary<int, ItemInfo>(extra);
        foreach (var (id, movie) in movies)
        {
            if (!items.TryGetValue(id, out var item))
            {
                items.Add(id, movie);
            }
            else if (item.Title.Length == 0 || item.Genres.Count == 0)
            {
                items[id] = item with
                {
                    Title = item.Title.Length == 0 ? movie.Title : item.Title,
                    Genres = item.Genres.Count == 0 ? movie.Genres : item.Genres,
                    Year = item.Year ?? movie.Year,
                };
            }
        }

        return items;
    }

    private static string? FirstWithExtension(string dir, string extension) =>
        Directory.EnumerateFiles(dir, "*" + extension)
            .Where(f => f.EndsWith(extension, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .FirstOrDefault();

    private static IEnumerable<(string Line, int Number)> Lines(string path)
    {
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            yield return (line, number);
        }
    }

    // Pre-sizing the ratings list avoids repeated regrowth on 800k lines; about 12 bytes a line.
    private static int EstimateLines(string path) =>
        (int)Math.Min(new FileInfo(path).Length / 12 + 16, 50_000_000);

    private static Dictionary<string, int> ParseHeader(string path, string line, out int columns)
    {
        var header = new Dictionary<string, int>(StringComparer.Ordinal);
        var names = line.Split('\t');
        if (names.Length > MaxColumns)
        {
            throw new DataFormatException(path, 1, $"header has {names.Length} columns; at most {MaxColumns} are supported");
        }

        for (var i = 0; i < names.Length; i++)
        {
            // RecBole headers are "name:type"; only the name identifies the column.
            var name = names[i].Split(':', 2)[0].Trim();
            if (name.Length > 0 && !header.TryAdd(name, i))
            {
                throw new DataFormatException(path, 1, $"header repeats column '{name}'");
            }
        }

        columns = names.Length;
        return header;
    }

    private static int Require(Dictionary<string, int> header, string path, string name) =>
        header.TryGetValue(name, out var index)
            ? index
            : throw new DataFormatException(path, 1, $"header lacks the column '{name}'");

    private static int Optional(Dictionary<string, int> header, string name) =>
        header.TryGetValue(name, out var index) ? index : -1;

    private static void RequireHeaderSeen(string path, int columns)
    {
        if (columns == 0)
        {
            throw new DataFormatException(path, 1, "file is empty: a header line is required");
        }
    }

    private static void CheckCount(string path, int lineNo, int count, int expected)
    {
        if (count != expected)
        {
            var found = count > expected ? $"more than {expected}" : count.ToString(CultureInfo.InvariantCulture);
            throw new DataFormatException(path, lineNo, $"expected {expected} fields, found {found}");
        }
    }

    private static int ParseId(string path, int lineNo, ReadOnlySpan<char> text, string what)
    {
        text = text.Trim();
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var id)
            ? id
            : throw new DataFormatException(path, lineNo, $"{what} '{text}' is not an integer");
    }

    private static float ParseRating(string path, int lineNo, ReadOnlySpan<char> text)
    {
        text = text.Trim();
        if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !float.IsFinite(value))
        {
            throw new DataFormatException(path, lineNo, $"rating '{text}' is not a number");
        }

        return value is >= Rating.MinValue and <= Rating.MaxValue
            ? value
            : throw new DataFormatException(path, lineNo, $"rating {text} is outside {Rating.MinValue:0}..{Rating.MaxValue:0}");
    }

    // Years are written "1995"; some sources write ranges ("1995-1996"): the first year counts.
    private static int? ParseYear(ReadOnlySpan<char> text)
    {
        text = text.Trim();
        return text.Length >= 4 && int.TryParse(text[..4], NumberStyles.None, CultureInfo.InvariantCulture, out var year)
            ? year
            : null;
    }

    private static int? YearFromTitle(ReadOnlySpan<char> title)
    {
        if (title.Length >= 6 && title[^1] == ')' && title[^6] == '(')
        {
            return ParseYear(title[^5..^1]);
        }

        return null;
    }

    private static string Token(ReadOnlySpan<char> text)
    {
        text = text.Trim();
        return text.Length == 0 || text.SequenceEqual(NotAvailable) ? "" : text.ToString();
    }

    private static string Column(ReadOnlySpan<char> line, Span<Range> fields, int column) =>
        column < 0 ? "" : Token(line[fields[column]]);

    private static string[] SplitList(ReadOnlySpan<char> text, char separator)
    {
        var values = new List<string>();
        foreach (var range in text.Split(separator))
        {
            var value = Token(text[range]);
            if (value.Length > 0)
            {
                values.Add(value);
            }
        }

        return [.. values];
    }

    private static void AddUnique<T>(Dictionary<int, T> map, int id, T value, string path, int lineNo, string what)
    {
        if (!map.TryAdd(id, value))
        {
            throw new DataFormatException(path, lineNo, $"duplicate {what} id {id}");
        }
    }
}

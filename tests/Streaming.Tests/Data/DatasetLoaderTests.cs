using Streaming.Shared.Data;

namespace Streaming.Tests.Data;

[Trait("Kind", "Unit")]
public sealed class DatasetLoaderTests
{
    private const string InterHeader = "user_id:token\titem_id:token\trating:float";

    [Fact]
    public void ReadRecBoleInter_GoodFile_ReadsRatingsInOrder()
    {
        using var dir = new TempFolder();
        // Columns out of the usual order: mapping is by name.
        var file = dir.Write("a.inter", "rating:float\tuser_id:token\titem_id:token\ttimestamp:float", "5\t1\t10\t0", "3\t1\t11\t0", "4.5\t2\t10\t0");

        var ratings = DatasetLoader.ReadRecBoleInter(file);

        Assert.Equal([new Rating(1, 10, 5f), new Rating(1, 11, 3f), new Rating(2, 10, 4.5f)], ratings);
    }

    [Theory]
    [InlineData("1\t10\t7", 3, "rating 7 is outside 1..5")]
    [InlineData("1\t10\tabc", 3, "rating 'abc' is not a number")]
    [InlineData("x\t10\t4", 3, "user id 'x' is not an integer")]
    [InlineData("1\t10", 3, "expected 3 fields, found 2")]
    [InlineData("1\t10\t4\t9", 3, "expected 3 fields, found more than 3")]
    public void ReadRecBoleInter_BadLine_ThrowsWithFileLineAndReason(string badLine, int line, string reason)
    {
        using var dir = new TempFolder();
        var file = dir.Write("bad.inter", InterHeader, "1\t11\t4", badLine);

        var e = Assert.Throws<DataFormatException>(() => DatasetLoader.ReadRecBoleInter(file));

        Assert.Equal(file, e.File);
        Assert.Equal(line, e.Line);
        Assert.Equal(reason, e.Reason);
        Assert.Contains($"{file}:{line}:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadRecBoleInter_MissingColumn_ThrowsOnHeader()
    {
        using var dir = new TempFolder();
        var file = dir.Write("bad.inter", "user_id:token\titem_id:token", "1\t2");

        var e = Assert.Throws<DataFormatException>(() => DatasetLoader.ReadRecBoleInter(file));

        Assert.Equal(1, e.Line);
        Assert.Contains("'rating'", e.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadRecBoleUsers_GoodFile_MapsColumnsByName()
    {
        using var dir = new TempFolder();
        var file = dir.Write("a.user", "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token", "1\t25\tF\t10\t48067", "2\t56\tM\t16\t70072");

        var users = DatasetLoader.ReadRecBoleUsers(file);

        Assert.Equal(new UserProfile("F", "25", "10", "48067"), users[1]);
        Assert.Equal(new UserProfile("M", "56", "16", "70072"), users[2]);
    }

    [Fact]
    public void ReadRecBoleUsers_DuplicateId_Throws()
    {
        using var dir = new TempFolder();
        var file = dir.Write("a.user", "user_id:token\tgender:token", "1\tF", "1\tM");

        var e = Assert.Throws<DataFormatException>(() => DatasetLoader.ReadRecBoleUsers(file));

        Assert.Equal(3, e.Line);
        Assert.Equal("duplicate user id 1", e.Reason);
    }

    [Fact]
    public void ReadRecBoleItems_GoodFile_SplitsGenresOnSpaces()
    {
        using var dir = new TempFolder();
        var file = dir.Write("a.item", "item_id:token\tmovie_title:token_seq\trelease_year:token\tgenre:token_seq", "1\tToy Story\t1995\tAnimation Children's Comedy", "2\tNo Year\t\t");

        var items = DatasetLoader.ReadRecBoleItems(file);

        Assert.Equal("Toy Story", items[1].Title);
        Assert.Equal(1995, items[1].Year);
        Assert.Equal(["Animation", "Children's", "Comedy"], items[1].Genres);
        Assert.Null(items[2].Year);
        Assert.Empty(items[2].Genres);
        Assert.Equal("", items[1].Plot); // no text column
    }

    [Theory]
    [InlineData("plot:token_seq")]
    [InlineData("description:token_seq")]
    public void ReadRecBoleItems_TextColumn_IsKeptAsThePlot(string textColumn)
    {
        using var dir = new TempFolder();
        var file = dir.Write("a.item", $"item_id:token\tmovie_title:token_seq\t{textColumn}", "1\tToy Story\tToys come to life.", "2\tObscure\tN/A");

        var items = DatasetLoader.ReadRecBoleItems(file);

        Assert.Equal("Toys come to life.", items[1].Plot);
        Assert.Equal("", items[2].Plot);
    }

    [Fact]
    public void ReadRatingsDat_GoodAndBadLines_ParsesOrThrows()
    {
        using var dir = new TempFolder();
        var good = dir.Write("ratings.dat", "1::1193::5::978300760", "2::661::3::978302109");
        Assert.Equal([new Rating(1, 1193, 5f), new Rating(2, 661, 3f)], DatasetLoader.ReadRatingsDat(good));

        var bad = dir.Write("bad.dat", "1::1193::5::978300760", "2::661::0::978302109");
        var e = Assert.Throws<DataFormatException>(() => DatasetLoader.ReadRatingsDat(bad));
        Assert.Equal(2, e.Line);
        Assert.Equal("rating 0 is outside 1..5", e.Reason);
    }

    [Fact]
    public void ReadUsersDat_GoodFile_ReadsProfiles()
    {
        using var dir = new TempFolder();
        var file = dir.Write("users.dat", "1::F::1::10::48067", "2::M::56::16::70072");

        var users = DatasetLoader.ReadUsersDat(file);

        Assert.Equal(new UserProfile("F", "1", "10", "48067"), users[1]);
        Assert.Equal(2, users.Count);
    }

    [Fact]
    public void ReadUsersDat_WrongFieldCount_ThrowsWithLine()
    {
        using var dir = new TempFolder();
        var file = dir.Write("users.dat", "1::F::1::10::48067", "2::M::56::16");

        var e = Assert.Throws<DataFormatException>(() => DatasetLoader.ReadUsersDat(file));

        Assert.Equal(2, e.Line);
        Assert.Equal("expected 5 fields, found 4", e.Reason);
    }

    [Fact]
    public void ReadMoviesDat_GoodFile_ParsesYearFromTitle()
    {
        using var dir = new TempFolder();
        var file = dir.Write("movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy", "2::Untitled::Drama");

        var items = DatasetLoader.ReadMoviesDat(file);

        Assert.Equal(1995, items[1].Year);
        Assert.Equal("Toy Story (1995)", items[1].Title);
        Assert.Equal(["Animation", "Children's", "Comedy"], items[1].Genres);
        Assert.Null(items[2].Year);
    }

    [Fact]
    public void ReadMoviesDat_NonNumericId_Throws()
    {
        using var dir = new TempFolder();
        var file = dir.Write("movies.dat", "1::Toy Story (1995)::Animation", "two::Jumanji (1995)::Adventure");

        var e = Assert.Throws<DataFormatException>(() => DatasetLoader.ReadMoviesDat(file));

        Assert.Equal(2, e.Line);
        Assert.Equal("item id 'two' is not an integer", e.Reason);
    }

    [Fact]
    public void ReadMovieExtraInfos_CrlfAndNotAvailable_ParsesSideFeatures()
    {
        using var dir = new TempFolder();
        var file = dir.WriteWithNewline(
            "movies_extrainfos.dat",
            "\r\n",
            "1::Toy Story::1995::G::22 Nov 1995::Animation, Adventure, Comedy::John Lasseter::Writer A::Tom Hanks, Tim Allen, , N/A::Plot.::http://x",
            "2::Obscure::N/A::N/A::N/A::N/A::N/A::N/A::N/A::N/A::N/A");

        var items = DatasetLoader.ReadMovieExtraInfos(file);

        var toy = items[1];
        Assert.Equal("Toy Story", toy.Title);
        Assert.Equal(1995, toy.Year);
        Assert.Equal("G", toy.Rate);
        Assert.Equal(["Animation", "Adventure", "Comedy"], toy.Genres);
        Assert.Equal(["John Lasseter"], toy.Directors);
        Assert.Equal(["Tom Hanks", "Tim Allen"], toy.Actors);
        Assert.Equal("Plot.", toy.Plot);
        var obscure = items[2];
        Assert.Equal("", obscure.Plot);
        Assert.Null(obscure.Year);
        Assert.Equal("", obscure.Rate);
        Assert.Empty(obscure.Genres);
        Assert.Empty(obscure.Actors);
    }

    [Fact]
    public void Load_RecBoleFolder_LoadsAllThree()
    {
        using var dir = new TempFolder();
        dir.Write("x.inter", InterHeader, "1\t1\t5", "2\t2\t3", "9\t99\t4");
        dir.Write("x.user", "user_id:token\tgender:token\tage:token\toccupation:token\tzip_code:token", "1\tF\t25\t1\t12345", "2\tM\t35\t2\t54321");
        dir.Write("x.item", "item_id:token\tmovie_title:token_seq\trelease_year:token\tgenre:token_seq", "1\tA\t1990\tDrama", "2\tB\t1999\tComedy");

        var data = DatasetLoader.Load(dir.Path);

        Assert.Equal(3, data.Ratings.Count); // Ratings on unknown users/items are kept.
        Assert.Equal(2, data.Users.Count);
        Assert.Equal(2, data.Items.Count);
        Assert.Equal(1999, data.Items[2].Year);
        Assert.Equal(Path.GetFullPath(dir.Path), data.Source);
    }

    [Fact]
    public void Load_DatFolder_CompletesExtraInfosFromMoviesDat()
    {
        using var dir = new TempFolder();
        dir.Write("ratings.dat", "1::1::5::0", "1::2::4::0");
        dir.Write("users.dat", "1::F::25::1::12345");
        dir.Write("movies_extrainfos.dat", "1::A::1990::PG::N/A::Drama::D1::W1::Actor1::P::U");
        dir.Write("movies.dat", "1::A (1990)::Drama", "2::B (1999)::Comedy|Horror");

        var data = DatasetLoader.Load(dir.Path);

        Assert.Equal(2, data.Ratings.Count);
        Assert.Equal("PG", data.Items[1].Rate);
        Assert.Equal(["D1"], data.Items[1].Directors);
        Assert.Equal("P", data.Items[1].Plot);
        Assert.Equal("", data.Items[2].Plot); // movies.dat has no plot
        Assert.Equal(1999, data.Items[2].Year);
        Assert.Equal(["Comedy", "Horror"], data.Items[2].Genres);
    }

    [Fact]
    public void Load_MissingFiles_ThrowsNamingFolderAndWhatIsMissing()
    {
        using var dir = new TempFolder();
        dir.Write("users.dat", "1::F::25::1::12345");

        var e = Assert.Throws<FileNotFoundException>(() => DatasetLoader.Load(dir.Path));

        Assert.Contains(dir.Path, e.Message, StringComparison.Ordinal);
        Assert.Contains("ratings", e.Message, StringComparison.Ordinal);
        Assert.Contains("items", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("users", e.Message, StringComparison.Ordinal);
    }
}

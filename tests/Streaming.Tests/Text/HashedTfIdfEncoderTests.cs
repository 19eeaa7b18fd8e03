using Streaming.Text;

namespace Streaming.Tests.Text;

[Trait("Kind", "Unit")]
public sealed class HashedTfIdfEncoderTests
{
    private static readonly string[] Corpus =
    [
        "Toy Story. Animation, Comedy. A cowboy doll is threatened by a new spaceman toy in a boy's room.",
        "Toy Story 2. Animation, Comedy. A cowboy doll is stolen by a toy collector; the other toys come to rescue him.",
        "Heat. Action, Crime. A detective hunts a crew of professional bank robbers in Los Angeles.",
        "Casino. Crime, Drama. A gambling expert runs a Las Vegas casino for the mob.",
        "Sense and Sensibility. Drama, Romance. Two sisters of different temperament seek love and marriage in England.",
        "Jumanji. Adventure, Fantasy. Children find a magical board game that releases jungle animals.",
    ];

    [Fact]
    public void Encode_TwoInstancesFittedOnTheSameCorpus_GiveIdenticalVectors()
    {
        var a = HashedTfIdfEncoder.Fit(Corpus);
        var b = HashedTfIdfEncoder.Fit(Corpus.ToList());

        Assert.Equal(a.Fingerprint, b.Fingerprint);
        Assert.Equal(a.Encode(Corpus), b.Encode(Corpus));
    }

    [Fact]
    public void Encode_SameTextTwice_GivesTheSameVector()
    {
        var encoder = HashedTfIdfEncoder.Fit(Corpus);

        var vectors = encoder.Encode([Corpus[0], Corpus[2], Corpus[0]]);

        Assert.Equal(vectors[0], vectors[2]);
        Assert.Equal(vectors[0], encoder.Encode([Corpus[0]])[0]);
    }

    [Fact]
    public void Encode_AnyText_HasUnitNorm_AndNoWordIsTheZeroVector()
    {
        var encoder = HashedTfIdfEncoder.Fit(Corpus, dimension: 64);

        var vectors = encoder.Encode([.. Corpus, "an unseen text, entirely new", "", " ... !"]);

        Assert.All(vectors, v => Assert.Equal(64, v.Length));
        Assert.All(vectors[..^2], v => Assert.Equal(1.0, Vectors.Norm(v), 5));
        Assert.All(vectors[^2..], v => Assert.All(v, x => Assert.Equal(0f, x)));
    }

    [Fact]
    public void Encode_SimilarTexts_AreCloserThanUnrelatedOnes()
    {
        var encoder = HashedTfIdfEncoder.Fit(Corpus);

        var v = encoder.Encode(Corpus);

        var sequel = Vectors.Dot(v[0], v[1]);
        Assert.True(sequel > Vectors.Dot(v[0], v[2]), $"Toy Story 2 ({sequel:F3}) should be closer to Toy Story than Heat ({Vectors.Dot(v[0], v[2]):F3})");
        Assert.True(sequel > Vectors.Dot(v[0], v[4]), "Toy Story 2 should be closer to Toy Story than Sense and Sensibility");
        Assert.True(Vectors.Dot(v[2], v[3]) > Vectors.Dot(v[2], v[4]), "two crime films should be closer than a crime film and a romance");
    }

    [Fact]
    public void Constructor_WithTheStoredIdf_EncodesExactlyAsTheFittedEncoder()
    {
        var fitted = HashedTfIdfEncoder.Fit(Corpus, dimension: 128);

        var restored = new HashedTfIdfEncoder([.. fitted.Idf]);

        Assert.Equal(128, restored.Dimension);
        Assert.Equal("tfidf", restored.Name);
        Assert.Equal(fitted.Fingerprint, restored.Fingerprint);
        Assert.Equal(fitted.Encode(["a new item about a cowboy toy"]), restored.Encode(["a new item about a cowboy toy"]));
    }

    [Fact]
    public void Fit_WordInEveryDocument_WeighsLessThanARareWord()
    {
        var encoder = HashedTfIdfEncoder.Fit(["common rare", "common other", "common third"], dimension: 4096);

        var common = encoder.Encode(["common"])[0];
        var rare = encoder.Encode(["rare"])[0];
        var both = encoder.Encode(["common rare"])[0];

        var commonBucket = Array.FindIndex(common, x => x > 0);
        var rareBucket = Array.FindIndex(rare, x => x > 0);
        Assert.NotEqual(commonBucket, rareBucket);
        Assert.True(both[rareBucket] > both[commonBucket]);
        Assert.Equal(1f, encoder.Idf[commonBucket]); // ln(4 / 4) + 1
    }

    [Fact]
    public void Fingerprint_DiffersWhenTheIdfDiffers()
    {
        Assert.NotEqual(HashedTfIdfEncoder.Fit(Corpus).Fingerprint, HashedTfIdfEncoder.Fit(Corpus[..3]).Fingerprint);
    }

    [Fact]
    public void Encode_IsStableAcrossProcessesAndVersions()
    {
        // The buckets are a stored model's contract: a change of tokenising or hashing must be deliberate (and retrain).
        var encoder = new HashedTfIdfEncoder(Enumerable.Repeat(1f, 64).ToArray());

        var vector = encoder.Encode(["Toy story"])[0];

        Assert.Equal(GoldenBuckets, Enumerable.Range(0, 64).Where(i => vector[i] != 0).ToArray());
    }

    [Fact]
    public void Encode_StopWordsOnly_IsTheZeroVector_AndStopWordsDoNotChangeAVector()
    {
        var encoder = HashedTfIdfEncoder.Fit(Corpus);

        Assert.All(encoder.Encode(["The and of a"])[0], x => Assert.Equal(0f, x));
        Assert.Equal(encoder.Encode(["cowboy doll"])[0], encoder.Encode(["the cowboy and a doll"])[0]);
    }

    [Fact]
    public void Words_LowerCasesAndSplitsOnNonLetters_DroppingApostrophes()
    {
        Assert.Equal(["children", "s", "toys"], HashedTfIdfEncoder.Words("Children s TOYS!"));
        Assert.Equal(["childrens", "toy", "2"], HashedTfIdfEncoder.Words("Children's toy-2"));
    }

    [Theory]
    [InlineData(new float[0])]
    [InlineData(new[] { 1f, float.NaN })]
    [InlineData(new[] { 1f, -0.5f })]
    public void Constructor_BadIdf_Throws(float[] idf)
    {
        Assert.Throws<ArgumentException>(() => new HashedTfIdfEncoder(idf));
    }

    // "toy" and "story" in 64 buckets.
    private static readonly int[] GoldenBuckets = [27, 49];
}

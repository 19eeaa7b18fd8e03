using System.Globalization;

namespace Streaming.Shared.Data;

/// <summary>Settings of <see cref="SyntheticDataset.Generate"/>.</summary>
/// <param name="Users">Number of users (ids 1..Users).</param>
/// <param name="Items">Number of items (ids 1..Items).</param>
/// <param name="Seed">Random seed; the same seed gives the same dataset.</param>
/// <param name="MinRatingsPerUser">Fewest items a user rates.</param>
/// <param name="MaxRatingsPerUser">Most items a user rates (capped at <paramref name="Items"/>).</param>
/// <param name="NewItemFraction">Share of items released after 1997 (the protocol's "new" items).</param>
/// <param name="NoiseStd">Standard deviation of the rating noise, before rounding.</param>
public sealed record SyntheticOptions(
    int Users = 800,
    int Items = 300,
    int Seed = 7,
    int MinRatingsPerUser = 13,
    int MaxRatingsPerUser = 60,
    double NewItemFraction = 0.25,
    double NoiseStd = 0.35);

/// <summary>
/// A MovieLens-shaped dataset with known structure, for tests and demos without the real data.
/// Ratings follow a latent-factor model: an item's latent vector is the mean of its tokens'
/// (genres, director, actors) vectors; a user's taste is a small part predicted by the profile
/// plus a strong individual part that only the user's own ratings reveal, which is what few-shot
/// adaptation has to pick up.
/// </summary>
public static class SyntheticDataset
{
    private const int LatentDim = 4;
    private const double BaseRating = 3.4;
    private const double TasteScale = 1.5;

    private static readonly string[] GenrePool =
    [
        "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
        "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
    ];

    private static readonly string[] RatePool = ["G", "PG", "PG-13", "R", "NC-17"];
    private static readonly string[] GenderPool = ["M", "F"];
    private static readonly string[] AgePool = ["1", "18", "25", "35", "45", "50", "56"];

    /// <summary>Generates the dataset; fully determined by <paramref name="options"/>.</summary>
    public static RatingsDataset Generate(SyntheticOptions? options = null)
    {
        var o = options ?? new SyntheticOptions();
        if (o.Users < 1 || o.Items < 1 || o.MinRatingsPerUser < 1 || o.MaxRatingsPerUser < o.MinRatingsPerUser
            || o.NewItemFraction is < 0 or > 1 || o.NoiseStd < 0)
        {
            throw new ArgumentException($"Invalid synthetic options: {o}.", nameof(options));
        }

        var random = new Random(o.Seed);
        var directors = Pool("Director", 60);
        var actors = Pool("Actor", 200);
        var occupations = Enumerable.Range(0, 21).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
        var zip3 = Enumerable.Range(100, 900).ToArray();
        MeluProtocol.Shuffle(zip3, random);
        zip3 = zip3[..40];

        // Every token gets a latent vector and a bias; scaled so that ratings spread over 1..5.
        var latent = new Dictionary<string, double[]>(StringComparer.Ordinal);
        var bias = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var token in GenrePool.Concat(RatePool).Concat(directors).Concat(actors)
                     .Concat(GenderPool.Select(g => "gender:" + g))
                     .Concat(AgePool.Select(a => "age:" + a))
                     .Concat(occupations.Select(c => "occupation:" + c)))
        {
            latent[token] = Gaussian(random, LatentDim, 1.0);
            bias[token] = Gaussian(random) * 0.25;
        }

        var items = new Dictionary<int, ItemInfo>(o.Items);
        var itemLatent = new double[o.Items + 1][];
        var itemBias = new double[o.Items + 1];
        var newItems = new bool[o.Items + 1];
        var order = Enumerable.Range(1, o.Items).ToArray();
        MeluProtocol.Shuffle(order, random);
        foreach (var id in order[..(int)Math.Round(o.Items * o.NewItemFraction)])
        {
            newItems[id] = true;
        }

        for (var id = 1; id <= o.Items; id++)
        {
            var genres = Pick(random, GenrePool, random.Next(1, 4));
            var director = Pick(random, directors, 1);
            var cast = Pick(random, actors, random.Next(2, 5));
            var rate = RatePool[random.Next(RatePool.Length)];
            var tokens = genres.Concat(director).Concat(cast).ToArray();
            itemLatent[id] = Mean(tokens.Select(t => latent[t]));
            itemBias[id] = tokens.Average(t => bias[t]) * 2 + bias[rate];
            var year = newItems[id] ? random.Next(1998, 2001) : random.Next(1950, 1998);
            items.Add(id, new ItemInfo(
                id, $"Synthetic Movie {id}", year, rate, genres, director, cast));
        }

        var users = new Dictionary<int, UserProfile>(o.Users);
        var ratings = new List<Rating>();
        var itemIds = Enumerable.Range(1, o.Items).ToArray();
        var maxRatings = Math.Min(o.MaxRatingsPerUser, o.Items);
        var minRatings = Math.Min(o.MinRatingsPerUser, maxRatings);
        for (var userId = 1; userId <= o.Users; userId++)
        {
            var gender = GenderPool[random.Next(GenderPool.Length)];
            var age = AgePool[random.Next(AgePool.Length)];
            var occupation = occupations[random.Next(occupations.Length)];
            var zip = (zip3[random.Next(zip3.Length)] * 100 + random.Next(100)).ToString("D5", CultureInfo.InvariantCulture);
            users.Add(userId, new UserProfile(gender, age, occupation, zip));

            var profilePart = Mean([latent["gender:" + gender], latent["age:" + age], latent["occupation:" + occupation]]);
            var individual = Gaussian(random, LatentDim, 1.0);
            var taste = new double[LatentDim];
            for (var d = 0; d < LatentDim; d++)
            {
                taste[d] = 0.5 * profilePart[d] + individual[d];
            }

            var userBias = bias["gender:" + gender] + bias["age:" + age];

            // Partial Fisher-Yates: the first k entries are k distinct random items.
            var k = random.Next(minRatings, maxRatings + 1);
            for (var i = 0; i < k; i++)
            {
                var j = random.Next(i, itemIds.Length);
                (itemIds[i], itemIds[j]) = (itemIds[j], itemIds[i]);
                var itemId = itemIds[i];
                var score = BaseRating + userBias + itemBias[itemId]
                    + TasteScale * Dot(taste, itemLatent[itemId]) + o.NoiseStd * Gaussian(random);
                ratings.Add(new Rating(userId, itemId, (float)Math.Clamp(Math.Round(score), 1, 5)));
            }
        }

        return new RatingsDataset($"synthetic(seed={o.Seed})", users, items, ratings);
    }

    private static string[] Pool(string prefix, int count) =>
        Enumerable.Range(1, count).Select(i => $"{prefix} {i:D3}").ToArray();

    private static string[] Pick(Random random, string[] pool, int count)
    {
        var copy = (string[])pool.Clone();
        for (var i = 0; i < count; i++)
        {
            var j = random.Next(i, copy.Length);
            (copy[i], copy[j]) = (copy[j], copy[i]);
        }

        return copy[..count];
    }

    private static double Gaussian(Random random)
    {
        // Box-Muller; 1 - NextDouble() is in (0, 1], so the log is finite.
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    private static double[] Gaussian(Random random, int dim, double std)
    {
        var v = new double[dim];
        for (var d = 0; d < dim; d++)
        {
            v[d] = Gaussian(random) * std;
        }

        return v;
    }

    private static double[] Mean(IEnumerable<double[]> vectors)
    {
        var sum = new double[LatentDim];
        var n = 0;
        foreach (var v in vectors)
        {
            for (var d = 0; d < LatentDim; d++)
            {
                sum[d] += v[d];
            }

            n++;
        }

        for (var d = 0; d < LatentDim; d++)
        {
            sum[d] /= n;
        }

        return sum;
    }

    private static double Dot(double[] a, double[] b)
    {
        var s = 0.0;
        for (var d = 0; d < a.Length; d++)
        {
            s += a[d] * b[d];
        }

        return s;
    }
}

using System.Globalization;
using System.Text.Json;

namespace Streaming.Shared.Data;

/// <summary>
/// The vocabularies of the MeLU features (item: rate, genre, director, actor; user: gender, age,
/// occupation, zip), built from training data only, and the encoders that turn items and users
/// into embedding indices. Saved with the model (<see cref="ToJson"/>) so that serving encodes
/// exactly as training did.
/// </summary>
public sealed class FeatureSpace
{
    /// <summary>Most values of one multi-valued feature an item keeps (the first ones).</summary>
    public const int MaxValuesPerItem = 16;

    private const int FormatVersion = 1;

    // The JSON name of the item-identity vocabulary (optional in the file: older files hold none).
    private const string ItemIdName = "item";

    private static readonly string[] Names = ["rate", "genre", "director", "actor", "gender", "age", "occupation", "zip"];

    private FeatureSpace(IReadOnlyList<FeatureVocabulary> vocabularies, FeatureVocabulary? itemIds = null)
    {
        Vocabularies = vocabularies;
        ItemIds = itemIds ?? new FeatureVocabulary(ItemIdName, []);
    }

    /// <summary>
    /// The identities of the training items (item ids as invariant strings), for networks with an item-id embedding
    /// (<c>NetworkInputs.ItemIdentity</c>); any other item, a new one in particular, maps to "unknown". Not part of
    /// <see cref="Vocabularies"/>, whose eight MeLU features keep their order. Empty for a space saved without it.
    /// </summary>
    public FeatureVocabulary ItemIds { get; }

    /// <summary>The item-identity index of <paramref name="itemId"/> (<see cref="FeatureVocabulary.Unknown"/> when not a training item).</summary>
    public int ItemIdIndex(int itemId) => ItemIds.IndexOf(itemId.ToString(CultureInfo.InvariantCulture));

    /// <summary>MPAA rate.</summary>
    public FeatureVocabulary Rate => Vocabularies[0];

    /// <summary>Genres.</summary>
    public FeatureVocabulary Genre => Vocabularies[1];

    /// <summary>Directors.</summary>
    public FeatureVocabulary Director => Vocabularies[2];

    /// <summary>Actors.</summary>
    public FeatureVocabulary Actor => Vocabularies[3];

    /// <summary>User gender.</summary>
    public FeatureVocabulary Gender => Vocabularies[4];

    /// <summary>User age band.</summary>
    public FeatureVocabulary Age => Vocabularies[5];

    /// <summary>User occupation.</summary>
    public FeatureVocabulary Occupation => Vocabularies[6];

    /// <summary>User zip3 region (see <see cref="ZipToken"/>).</summary>
    public FeatureVocabulary Zip => Vocabularies[7];

    /// <summary>All vocabularies, in the order rate, genre, director, actor, gender, age, occupation, zip.</summary>
    public IReadOnlyList<FeatureVocabulary> Vocabularies { get; }

    /// <summary>Builds the vocabularies from the training items and users only.</summary>
    /// <param name="trainingItems">The items seen in training.</param>
    /// <param name="trainingUsers">The profiles of the training users.</param>
    /// <param name="minCount">
    /// Directors, actors and zip regions seen in fewer training items (users) than this map to "unknown".
    /// Why: otherwise the unknown embedding is never trained, yet it is exactly what every new item's
    /// unseen cast and every new region looks up; rare tokens teach it what "someone we know little about" is.
    /// </param>
    public static FeatureSpace Build(IEnumerable<ItemInfo> trainingItems, IEnumerable<UserProfile> trainingUsers, int minCount = 2)
    {
        ArgumentNullException.ThrowIfNull(trainingItems);
        ArgumentNullException.ThrowIfNull(trainingUsers);
        var items = trainingItems.ToList();
        var users = trainingUsers.ToList();
        return new FeatureSpace(
        [
            FeatureVocabulary.FromObserved("rate", items.Select(i => i.Rate)),
            FeatureVocabulary.FromObserved("genre", items.SelectMany(i => i.Genres)),
            FeatureVocabulary.FromObserved("director", items.SelectMany(i => i.Directors), minCount),
            FeatureVocabulary.FromObserved("actor", items.SelectMany(i => i.Actors), minCount),
            FeatureVocabulary.FromObserved("gender", users.Select(u => u.Gender)),
            FeatureVocabulary.FromObserved("age", users.Select(u => u.Age)),
            FeatureVocabulary.FromObserved("occupation", users.Select(u => u.Occupation)),
            FeatureVocabulary.FromObserved("zip", users.Select(u => ZipToken(u.Zip)), minCount),
        ],
        FeatureVocabulary.FromObserved(ItemIdName, items.Select(i => i.ItemId.ToString(CultureInfo.InvariantCulture))));
    }

    /// <summary>
    /// The zip feature's token: the first three characters (the zip3 region). Full zip codes are
    /// nearly unique per user, so a new user's code is almost never in the training vocabulary;
    /// the region usually is, and carries the geographic signal. Empty when the zip is empty.
    /// </summary>
    public static string ZipToken(string? zip)
    {
        var trimmed = (zip ?? "").AsSpan().Trim();
        return (trimmed.Length > 3 ? trimmed[..3] : trimmed).ToString();
    }

    /// <summary>Encodes items, one row each, in the given order.</summary>
    public ItemFeatureTable EncodeItems(IEnumerable<ItemInfo> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var list = items.ToList();
        var ids = new int[list.Count];
        var rate = new long[list.Count];
        for (var i = 0; i < list.Count; i++)
        {
            ids[i] = list[i].ItemId;
            rate[i] = Rate.IndexOf(list[i].Rate);
        }

        return new ItemFeatureTable(
            ids,
            rate,
            EncodeMulti(list, i => i.Genres, Genre),
            EncodeMulti(list, i => i.Directors, Director),
            EncodeMulti(list, i => i.Actors, Actor),
            [.. list.Select(ItemText.Of)]);
    }

    /// <summary>Encodes a user's profile as indices [gender, age, occupation, zip].</summary>
    public long[] EncodeUser(UserProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return
        [
            Gender.IndexOf(profile.Gender),
            Age.IndexOf(profile.Age),
            Occupation.IndexOf(profile.Occupation),
            Zip.IndexOf(ZipToken(profile.Zip)),
        ];
    }

    /// <summary>Serializes the vocabularies (token lists by feature name) as JSON.</summary>
    public string ToJson()
    {
        var vocabularies = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var vocabulary in Vocabularies)
        {
            vocabularies[vocabulary.Name] = vocabulary.Tokens;
        }

        // Readers that predate the item-identity vocabulary ignore the extra list.
        vocabularies[ItemIdName] = ItemIds.Tokens;

        return JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["version"] = FormatVersion,
            ["vocabularies"] = vocabularies,
        });
    }

    /// <summary>Restores a feature space saved by <see cref="ToJson"/>, with the same indices.</summary>
    /// <exception cref="InvalidDataException">The JSON is malformed or lacks a vocabulary.</exception>
    public static FeatureSpace FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("version", out var version)
                || version.ValueKind != JsonValueKind.Number
                || version.GetInt32() != FormatVersion)
            {
                throw new InvalidDataException($"Feature space JSON must be an object with \"version\": {FormatVersion}.");
            }

            if (!root.TryGetProperty("vocabularies", out var vocabularies) || vocabularies.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException("Feature space JSON lacks the \"vocabularies\" object.");
            }

            var list = new List<FeatureVocabulary>(Names.Length);
            foreach (var name in Names)
            {
                if (!vocabularies.TryGetProperty(name, out var tokens) || tokens.ValueKind != JsonValueKind.Array)
                {
                    throw new InvalidDataException($"Feature space JSON lacks the token list of the \"{name}\" vocabulary.");
                }

                list.Add(ReadVocabulary(name, tokens));
            }

            // Optional: files written before item identities were recorded have none (every item is then "unknown").
            var itemIds = vocabularies.TryGetProperty(ItemIdName, out var ids) && ids.ValueKind == JsonValueKind.Array
                ? ReadVocabulary(ItemIdName, ids)
                : null;
            return new FeatureSpace(list, itemIds);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Feature space JSON is malformed: {e.Message}", e);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            throw new InvalidDataException($"Feature space JSON is invalid: {e.Message}", e);
        }
    }

    private static FeatureVocabulary ReadVocabulary(string name, JsonElement tokens)
    {
        var values = new List<string>(tokens.GetArrayLength());
        foreach (var token in tokens.EnumerateArray())
        {
            values.Add(token.ValueKind == JsonValueKind.String
                ? token.GetString()!
                : throw new InvalidDataException($"Vocabulary \"{name}\" holds a non-string token ({token.ValueKind})."));
        }

        return new FeatureVocabulary(name, values);
    }

    private static MultiValuedFeature EncodeMulti(
        List<ItemInfo> items, Func<ItemInfo, IReadOnlyList<string>> values, FeatureVocabulary vocabulary)
    {
        var width = 1;
        foreach (var item in items)
        {
            width = Math.Max(width, Math.Min(values(item).Count, MaxValuesPerItem));
        }

        var indices = new long[items.Count * width];
        var weights = new float[items.Count * width];
        for (var row = 0; row < items.Count; row++)
        {
            var tokens = values(items[row]);
            var n = Math.Min(tokens.Count, MaxValuesPerItem);
            var offset = row * width;
            if (n == 0)
            {
                // No values: the unknown embedding stands in, with full weight.
                weights[offset] = 1f;
                continue;
            }

            // Unseen values keep their share of the weight on index 0, so the mean stays over n values.
            for (var j = 0; j < n; j++)
            {
                indices[offset + j] = vocabulary.IndexOf(tokens[j]);
                weights[offset + j] = 1f / n;
            }
        }

        return new MultiValuedFeature(width, indices, weights);
    }
}

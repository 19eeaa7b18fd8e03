namespace Streaming.Shared.Data;

/// <summary>
/// Maps the tokens of one categorical feature to embedding indices 1..N; index 0
/// (<see cref="Unknown"/>) stands for empty and unseen tokens, so a model trained on this
/// vocabulary can still embed values it never saw.
/// </summary>
public sealed class FeatureVocabulary
{
    /// <summary>The index of empty and unseen tokens.</summary>
    public const int Unknown = 0;

    private readonly Dictionary<string, int> _index;

    /// <summary>
    /// A vocabulary whose tokens take indices 1..N in the given order (used to restore a saved
    /// vocabulary exactly). Tokens must be non-empty and distinct.
    /// </summary>
    public FeatureVocabulary(string name, IEnumerable<string> tokens)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(tokens);
        Name = name;
        var list = tokens.ToArray();
        _index = new Dictionary<string, int>(list.Length, StringComparer.Ordinal);
        for (var i = 0; i < list.Length; i++)
        {
            if (string.IsNullOrEmpty(list[i]))
            {
                throw new ArgumentException($"Vocabulary '{name}' has an empty token at position {i}.", nameof(tokens));
            }

            if (!_index.TryAdd(list[i], i + 1))
            {
                throw new ArgumentException($"Vocabulary '{name}' repeats the token '{list[i]}'.", nameof(tokens));
            }
        }

        Tokens = list;
    }

    /// <summary>
    /// A vocabulary of the distinct non-empty observed tokens, sorted ordinally so that the same
    /// data always gives the same indices whatever order it came in.
    /// </summary>
    public static FeatureVocabulary FromObserved(string name, IEnumerable<string> observed, int minCount = 1)
    {
        ArgumentNullException.ThrowIfNull(observed);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in observed)
        {
            if (!string.IsNullOrEmpty(token))
            {
                counts[token] = counts.GetValueOrDefault(token) + 1;
            }
        }

        return new FeatureVocabulary(name, counts.Where(kv => kv.Value >= minCount).Select(kv => kv.Key).Order(StringComparer.Ordinal));
    }

    /// <summary>Feature name ("genre", "zip", ...).</summary>
    public string Name { get; }

    /// <summary>Known tokens; token <c>Tokens[i]</c> has index <c>i + 1</c>.</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>Rows an embedding table needs: the known tokens plus the unknown row 0.</summary>
    public int Size => Tokens.Count + 1;

    /// <summary>The index of a token, or <see cref="Unknown"/> for null, empty or unseen tokens.</summary>
    public int IndexOf(string? token) =>
        token is not null && _index.TryGetValue(token, out var index) ? index : Unknown;
}

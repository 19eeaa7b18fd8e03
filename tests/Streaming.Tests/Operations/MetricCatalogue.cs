using System.Text;
using System.Text.RegularExpressions;

namespace Streaming.Tests.Operations;

/// <summary>A metric the code creates: its name, type and label names.</summary>
public sealed record DefinedMetric(string Name, string Type, IReadOnlyList<string> Labels, string Source);

/// <summary>
/// The metrics the services define, read from the C# sources (every <c>Create{Counter,Gauge,Histogram,Summary}("name",
/// "help", labels...)</c> call under src/), so that the check follows the code as it changes.
/// </summary>
public static partial class MetricCatalogue
{
    public static IReadOnlyDictionary<string, DefinedMetric> FromSources() => FromFiles(
        Directory.EnumerateFiles(Repository.PathOf("src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(f => (Path.GetRelativePath(Repository.Root, f), File.ReadAllText(f))));

    public static IReadOnlyDictionary<string, DefinedMetric> FromFiles(IEnumerable<(string Path, string Text)> files)
    {
        var metrics = new Dictionary<string, DefinedMetric>(StringComparer.Ordinal);
        foreach (var (path, text) in files)
        {
            foreach (Match m in CreateCall().Matches(text))
            {
                var literals = StringLiterals(text, m.Index + m.Length - 1);
                if (!text[(m.Index + m.Length)..].TrimStart().StartsWith('"') || !MetricName().IsMatch(literals[0]))
                {
                    continue;   // a name from a variable, or not a metric call at all
                }

                // Arguments: name, help, then label names (also inside a configuration's LabelNames).
                var labels = literals.Skip(2).Where(l => MetricName().IsMatch(l)).ToList();
                metrics[literals[0]] = new DefinedMetric(literals[0], m.Groups[1].Value.ToLowerInvariant(), labels, path);
            }
        }

        return metrics;
    }

    /// <summary>The string literals inside the parenthesised argument list that opens at <paramref name="open"/>.</summary>
    private static List<string> StringLiterals(string text, int open)
    {
        var literals = new List<string>();
        int depth = 0;
        for (int i = open; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '"')
            {
                var literal = new StringBuilder();
                for (i++; i < text.Length && text[i] != '"'; i++)
                {
                    if (text[i] == '\\')
                    {
                        i++;
                    }

                    literal.Append(text[i]);
                }

                literals.Add(literal.ToString());
            }
            else if (c == '(')
            {
                depth++;
            }
            else if (c == ')' && --depth == 0)
            {
                break;
            }
        }

        return literals;
    }

    [GeneratedRegex(@"\bCreate(Counter|Gauge|Histogram|Summary)\s*\(")]
    private static partial Regex CreateCall();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex MetricName();
}

/// <summary>A metric selector found in a PromQL expression: <c>name{label="value", ...}</c>.</summary>
public sealed record PromQlSelector(string Metric, IReadOnlyList<string> Labels);

/// <summary>
/// Just enough PromQL to find the metrics and label matchers an expression uses: identifiers that are not
/// functions, aggregation keywords, grouping labels (<c>by (...)</c>), durations or numbers.
/// </summary>
public static partial class PromQl
{
    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan",

        // Aggregation operators: reserved words, also in `sum by (x) (...)` where no parenthesis follows them.
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio",
    };

    private static readonly HashSet<string> Grouping = new(StringComparer.Ordinal) { "by", "without", "on", "ignoring", "group_left", "group_right" };

    public static IReadOnlyList<PromQlSelector> Selectors(string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        var result = new List<PromQlSelector>();
        int i = 0;
        while (i < expression.Length)
        {
            char c = expression[i];
            if (c is '"' or '\'' or '`')
            {
                i = SkipString(expression, i);
            }
            else if (c == '[')
            {
                i = expression.IndexOf(']', i) + 1;   // range or subquery duration
            }
            else if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < expression.Length && char.IsAsciiDigit(expression[i + 1])))
            {
                var number = Number().Match(expression, i);
                i = number.Index + Math.Max(number.Length, 1);
            }
            else if (char.IsAsciiLetter(c) || c is '_' or ':')
            {
                int start = i;
                while (i < expression.Length && (char.IsAsciiLetterOrDigit(expression[i]) || expression[i] is '_' or ':'))
                {
                    i++;
                }

                string word = expression[start..i];
                int next = i;
                while (next < expression.Length && char.IsWhiteSpace(expression[next]))
                {
                    next++;
                }

                bool call = next < expression.Length && expression[next] == '(';
                if (Grouping.Contains(word) && call)
                {
                    i = expression.IndexOf(')', next) + 1;   // label list, not metrics
                }
                else if (!call && !Keywords.Contains(word.ToLowerInvariant()))
                {
                    var labels = new List<string>();
                    if (next < expression.Length && expression[next] == '{')
                    {
                        (labels, i) = Matchers(expression, next);
                    }

                    result.Add(new PromQlSelector(word, labels));
                }

            }
            else if (c == '{')
            {
                var (labels, end) = Matchers(expression, i);   // a selector without a metric name
                result.Add(new PromQlSelector("", labels));
                i = end;
            }
            else
            {
                i++;
            }
        }

        return result;
    }

    private static (List<string> Labels, int End) Matchers(string expression, int open)
    {
        var labels = new List<string>();
        int i = open + 1;
        while (i < expression.Length && expression[i] != '}')
        {
            var m = Matcher().Match(expression, i);
            if (!m.Success || m.Index != i)
            {
                i++;
                continue;
            }

            labels.Add(m.Groups[1].Value);
            i = SkipString(expression, m.Index + m.Length - 1);
        }

        return (labels, i + 1);
    }

    private static int SkipString(string text, int quote)
    {
        char q = text[quote];
        int i = quote + 1;
        while (i < text.Length && text[i] != q)
        {
            i += text[i] == '\\' ? 2 : 1;
        }

        return i + 1;
    }

    [GeneratedRegex(@"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*[""'`]")]
    private static partial Regex Matcher();

    // A duration (offset 1h30m), a hexadecimal or a decimal number.
    [GeneratedRegex(@"\G(([0-9]+(ms|[smhdwy]))+|0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)")]
    private static partial Regex Number();
}

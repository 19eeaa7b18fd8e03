using System.Globalization;
using System.Text;

namespace Streaming.Cli.Monitoring;

/// <summary>One sample of the Prometheus text exposition format: <c>name{label="value",...} value</c>.</summary>
internal sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string? Label(string name) => Labels.TryGetValue(name, out var value) ? value : null;
}

/// <summary>
/// Parser of the Prometheus text exposition format (version 0.0.4), as prometheus-net writes it at /metrics:
/// <c># HELP</c> / <c># TYPE</c> comments, samples with optional labels and timestamp, label values with
/// <c>\\</c>, <c>\"</c> and <c>\n</c> escapes, and <c>+Inf</c>, <c>-Inf</c>, <c>NaN</c> values.
/// </summary>
internal static class PrometheusText
{
    /// <summary>Every sample of <paramref name="text"/>, in order. A malformed line fails with its number.</summary>
    public static IReadOnlyList<PrometheusSample> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<PrometheusSample>();
        int lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            string line = raw.TrimEnd('\r').Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            samples.Add(ParseSample(line) ?? throw new FormatException($"line {lineNumber}: not a Prometheus sample: {line}"));
        }

        return samples;
    }

    private static PrometheusSample? ParseSample(string line)
    {
        int i = 0;
        while (i < line.Length && (char.IsAsciiLetterOrDigit(line[i]) || line[i] is '_' or ':'))
        {
            i++;
        }

        if (i == 0)
        {
            return null;
        }

        string name = line[..i];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (true)
            {
                while (i < line.Length && line[i] is ' ' or ',')
                {
                    i++;
                }

                if (i < line.Length && line[i] == '}')
                {
                    i++;
                    break;
                }

                int start = i;
                while (i < line.Length && line[i] != '=')
                {
                    i++;
                }

                if (i + 1 >= line.Length || line[i + 1] != '"')
                {
                    return null;
                }

                string label = line[start..i].Trim();
                i += 2;
                var value = new StringBuilder();
                while (i < line.Length && line[i] != '"')
                {
                    if (line[i] == '\\' && i + 1 < line.Length)
                    {
                        i++;
                        value.Append(line[i] == 'n' ? '\n' : line[i]);
                    }
                    else
                    {
                        value.Append(line[i]);
                    }

                    i++;
                }

                if (i >= line.Length)
                {
                    return null;
                }

                i++;   // closing quote
                labels[label] = value.ToString();
            }
        }

        var rest = line[i..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (rest.Length is < 1 or > 2 || !TryParseValue(rest[0], out double sample))
        {
            return null;
        }

        return new PrometheusSample(name, labels, sample);
    }

    private static bool TryParseValue(string text, out double value)
    {
        switch (text)
        {
            case "+Inf" or "Inf":
                value = double.PositiveInfinity;
                return true;
            case "-Inf":
                value = double.NegativeInfinity;
                return true;
            case "NaN":
                value = double.NaN;
                return true;
            default:
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }
    }
}

using System.Globalization;
using System.Text;

namespace PgVault.Tests;

/// <summary>One sample of a scrape: series name, labels, value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string? Label(string name) => Labels.GetValueOrDefault(name);
}

/// <summary>
/// A parsed scrape in the Prometheus text exposition format 0.0.4: <c># TYPE</c> and <c># HELP</c> lines, and
/// samples <c>name{label="value",...} value [timestamp]</c>. Strict: a malformed line, or a sample of a family with
/// no <c># TYPE</c>, fails the parse, so the test also checks that the output is well-formed.
/// </summary>
public sealed class PrometheusScrape
{
    private static readonly string[] FamilySuffixes = ["_bucket", "_sum", "_count", "_total", "_created", "_info"];

    private PrometheusScrape(Dictionary<string, string> types, Dictionary<string, string> help, List<PrometheusSample> samples)
    {
        Types = types;
        Help = help;
        Samples = samples;
    }

    /// <summary>Family name → type (counter, gauge, histogram, summary, untyped).</summary>
    public IReadOnlyDictionary<string, string> Types { get; }

    public IReadOnlyDictionary<string, string> Help { get; }

    public IReadOnlyList<PrometheusSample> Samples { get; }

    /// <summary>Samples named <paramref name="name"/> whose labels include every pair of <paramref name="labels"/>.</summary>
    public IEnumerable<PrometheusSample> Find(string name, params (string Key, string Value)[] labels) =>
        Samples.Where(s => string.Equals(s.Name, name, StringComparison.Ordinal)
                           && labels.All(l => string.Equals(s.Label(l.Key), l.Value, StringComparison.Ordinal)));

    /// <summary>The one sample named <paramref name="name"/> with those labels; fails when there is none or several.</summary>
    public double Single(string name, params (string Key, string Value)[] labels)
    {
        var found = Find(name, labels).ToList();
        if (found.Count != 1)
        {
            throw new InvalidOperationException(
                $"expected one sample {name}{{{string.Join(",", labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}}, found {found.Count}");
        }

        return found[0].Value;
    }

    public static PrometheusScrape Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var help = new Dictionary<string, string>(StringComparer.Ordinal);
        var samples = new List<PrometheusSample>();
        var lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            var line = raw.TrimEnd('\r');
            if (line.Length == 0)
                continue;
            try
            {
                if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
                {
                    var parts = line[7..].Split(' ', 2);
                    if (parts.Length != 2 || parts[1] is not ("counter" or "gauge" or "histogram" or "summary" or "untyped"))
                        throw new FormatException("bad TYPE line");
                    if (!types.TryAdd(parts[0], parts[1]))
                        throw new FormatException($"second TYPE line for {parts[0]}");
                    continue;
                }

                if (line.StartsWith("# HELP ", StringComparison.Ordinal))
                {
                    var parts = line[7..].Split(' ', 2);
                    help[parts[0]] = parts.Length > 1 ? parts[1] : "";
                    continue;
                }

                if (line.StartsWith('#'))
                    continue;
                samples.Add(ParseSample(line));
            }
            catch (FormatException ex)
            {
                throw new FormatException($"line {lineNumber}: {ex.Message}: {line}", ex);
            }
        }

        foreach (var s in samples)
        {
            if (!types.ContainsKey(s.Name) && !FamilySuffixes.Any(x => s.Name.EndsWith(x, StringComparison.Ordinal)
                                                                     && types.ContainsKey(s.Name[..^x.Length])))
                throw new FormatException($"sample {s.Name} has no # TYPE line");
        }

        return new PrometheusScrape(types, help, samples);
    }

    private static PrometheusSample ParseSample(string line)
    {
        var i = 0;
        while (i < line.Length && (char.IsAsciiLetterOrDigit(line[i]) || line[i] is '_' or ':'))
            i++;
        if (i == 0 || char.IsAsciiDigit(line[0]))
            throw new FormatException("bad metric name");
        var name = line[..i];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (true)
            {
                if (i >= line.Length)
                    throw new FormatException("unterminated label set");
                if (line[i] == '}')
                {
                    i++;
                    break;
                }

                var start = i;
                while (i < line.Length && (char.IsAsciiLetterOrDigit(line[i]) || line[i] == '_'))
                    i++;
                var key = line[start..i];
                if (key.Length == 0 || i + 1 >= line.Length || line[i] != '=' || line[i + 1] != '"')
                    throw new FormatException("bad label");
                i += 2;
                var value = new StringBuilder();
                while (true)
                {
                    if (i >= line.Length)
                        throw new FormatException("unterminated label value");
                    var c = line[i++];
                    if (c == '"')
                        break;
                    if (c == '\\')
                    {
                        if (i >= line.Length)
                            throw new FormatException("dangling escape");
                        var e = line[i++];
                        value.Append(e switch
                        {
                            'n' => '\n',
                            '\\' => '\\',
                            '"' => '"',
                            _ => throw new FormatException($"bad escape \\{e}"),
                        });
                    }
                    else
                    {
                        value.Append(c);
                    }
                }

                if (!labels.TryAdd(key, value.ToString()))
                    throw new FormatException($"label {key} twice");
                if (i < line.Length && line[i] == ',')
                    i++;
            }
        }

        var rest = line[i..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (rest.Length is < 1 or > 2)
            throw new FormatException("expected a value and an optional timestamp");
        var number = rest[0] switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            var v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
        };
        if (rest.Length == 2 && !long.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
            throw new FormatException("bad timestamp");
        return new PrometheusSample(name, labels, number);
    }
}

using System.Reflection;
using System.Text.RegularExpressions;
using PgVault.Configuration;
using Xunit;

namespace PgVault.Core.Tests;

/// <summary>
/// Rules the documentation keeps so that it stays readable: README.md and <c>docs/*.md</c> are read in a browser and in
/// a terminal, where a table cell of a page's length is unreadable. Longer explanations go below the table. Every
/// configuration key is described in <c>docs/CONFIGURATION.md</c>.
/// </summary>
public sealed class DocumentationTests
{
    private const int MaxCellLength = 300;

    [Fact]
    public void No_markdown_table_cell_is_longer_than_300_characters()
    {
        var root = RepositoryRoot();
        var files = new[] { Path.Combine(root, "README.md") }
            .Concat(Directory.GetFiles(Path.Combine(root, "docs"), "*.md"))
            .ToList();
        Assert.Contains(files, f => f.EndsWith(Path.Combine("docs", "CONFIGURATION.md"), StringComparison.Ordinal));

        var tooLong = new List<string>();
        foreach (var file in files)
        {
            var lines = File.ReadAllLines(file);
            var inFence = false;
            for (var i = 0; i < lines.Length; i++)
            {
                var line = lines[i].Trim();
                if (line.StartsWith("```", StringComparison.Ordinal))
                    inFence = !inFence;
                if (inFence || !line.StartsWith('|'))
                    continue;
                foreach (var cell in Cells(line).Where(c => c.Length > MaxCellLength))
                    tooLong.Add($"{Path.GetRelativePath(root, file)}:{i + 1}: a cell of {cell.Length} characters ({cell[..40]}…)");
            }
        }

        Assert.True(tooLong.Count == 0,
            $"Table cells over {MaxCellLength} characters (make the cell short and explain below the table):\n"
            + string.Join('\n', tooLong));
    }

    [Fact]
    public void Every_configuration_key_is_documented_in_CONFIGURATION_md()
    {
        var doc = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "CONFIGURATION.md"));
        var keys = ConfigurationKeys(typeof(PgVaultOptions), "").ToList();
        Assert.Contains("Engine:WalFlushInterval", keys);
        Assert.Contains("Locations:<name>:Encryption:KeyId", keys);

        // A key is documented when its last segment is named in a code span (`Engine:WalFlushInterval`,
        // `Bucket`, `AccessKeyId` / `SecretAccessKey`, or the name inside a longer span).
        var missing = keys
            .Where(k => !Regex.IsMatch(doc, "`[^`\n]*\\b" + Regex.Escape(k.Split(':')[^1]) + "\\b[^`\n]*`"))
            .ToList();
        Assert.True(missing.Count == 0,
            "Configuration keys not described in docs/CONFIGURATION.md:\n" + string.Join('\n', missing));
    }

    /// <summary>The keys under <c>PgVault:</c> of an options class: its settable public properties, nested options
    /// classes, lists of them (<c>Clusters[]:Id</c>) and dictionaries of them (<c>Locations:&lt;name&gt;:Bucket</c>).</summary>
    private static IEnumerable<string> ConfigurationKeys(Type type, string prefix)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            var key = prefix + property.Name;
            var t = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (IsOptions(t))
            {
                foreach (var k in ConfigurationKeys(t, key + ":"))
                    yield return k;
            }
            else if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(List<>) && IsOptions(t.GetGenericArguments()[0]))
            {
                foreach (var k in ConfigurationKeys(t.GetGenericArguments()[0], key + "[]:"))
                    yield return k;
            }
            else if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Dictionary<,>) && IsOptions(t.GetGenericArguments()[1]))
            {
                foreach (var k in ConfigurationKeys(t.GetGenericArguments()[1], key + ":<name>:"))
                    yield return k;
            }
            else
            {
                yield return key;
            }
        }

        static bool IsOptions(Type t) => t.IsClass && t != typeof(string) && t.Namespace == typeof(PgVaultOptions).Namespace;
    }

    [Theory]
    [InlineData("| a | b |", new[] { "a", "b" })]
    [InlineData("| `x \\| y` | z |", new[] { "`x \\| y`", "z" })]
    [InlineData("|---|---|", new[] { "---", "---" })]
    public void Cells_split_on_unescaped_bars(string row, string[] expected) =>
        Assert.Equal(expected, Cells(row));

    /// <summary>The cells of a table row: split on <c>|</c> except <c>\|</c>, the outer bars dropped, trimmed.</summary>
    private static List<string> Cells(string row)
    {
        var cells = new List<string>();
        var start = 0;
        for (var i = 0; i < row.Length; i++)
        {
            if (row[i] != '|' || (i > 0 && row[i - 1] == '\\'))
                continue;
            cells.Add(row[start..i].Trim());
            start = i + 1;
        }
        cells.Add(row[start..].Trim());
        if (row.StartsWith('|'))
            cells.RemoveAt(0);
        if (row.EndsWith('|') && !row.EndsWith("\\|", StringComparison.Ordinal))
            cells.RemoveAt(cells.Count - 1);
        return cells;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PgVault.slnx")))
                return dir.FullName;
        }
        throw new InvalidOperationException("PgVault.slnx not found above " + AppContext.BaseDirectory);
    }
}

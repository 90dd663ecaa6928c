using System.Xml.Linq;
using Xunit;

namespace PgVault.Core.Tests;

/// <summary>
/// The project references drawn in <c>docs/ARCHITECTURE.md</c> are the ones the <c>.csproj</c> files have: its table of
/// project references and every <c>src/*/*.csproj</c>'s <c>ProjectReference</c> items must agree, both ways.
/// </summary>
public sealed class ProjectReferenceTests
{
    [Fact]
    public void Architecture_table_matches_the_project_references()
    {
        var root = RepositoryRoot();
        var documented = DocumentedReferences(File.ReadAllLines(Path.Combine(root, "docs", "ARCHITECTURE.md")));
        var actual = Directory.GetFiles(Path.Combine(root, "src"), "*.csproj", SearchOption.AllDirectories)
            .ToDictionary(
                p => Path.GetFileNameWithoutExtension(p),
                p => XDocument.Load(p).Descendants("ProjectReference")
                    .Select(r => Path.GetFileNameWithoutExtension(((string)r.Attribute("Include")!).Replace('\\', '/')))
                    .Order(StringComparer.Ordinal)
                    .ToList(),
                StringComparer.Ordinal);

        Assert.NotEmpty(actual);
        Assert.Equal(actual.Keys.Order(StringComparer.Ordinal), documented.Keys.Order(StringComparer.Ordinal));
        foreach (var (project, references) in actual)
            Assert.True(references.SequenceEqual(documented[project]), $"{project}: the .csproj references [{string.Join(", ", references)}], " +
                $"docs/ARCHITECTURE.md says [{string.Join(", ", documented[project])}]");
    }

    /// <summary>The rows of the table headed <c>| Project | References |</c>: project → referenced projects ("none" for none).</summary>
    private static Dictionary<string, List<string>> DocumentedReferences(string[] lines)
    {
        var start = Array.FindIndex(lines, l => l.Replace(" ", "", StringComparison.Ordinal) == "|Project|References|");
        Assert.True(start >= 0, "docs/ARCHITECTURE.md has no '| Project | References |' table");
        var table = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(start + 2).TakeWhile(l => l.StartsWith('|')))
        {
            var cells = line.Trim('|').Split('|').Select(c => c.Trim()).ToArray();
            table.Add(cells[0], cells[1] == "none"
                ? []
                : cells[1].Split(',').Select(r => r.Trim()).Order(StringComparer.Ordinal).ToList());
        }

        return table;
    }

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PgVault.slnx")))
                return dir.FullName;
        }

        throw new InvalidOperationException($"no PgVault.slnx above {AppContext.BaseDirectory}");
    }
}

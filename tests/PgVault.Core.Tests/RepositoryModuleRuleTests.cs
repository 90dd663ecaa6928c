using System.Text.RegularExpressions;
using Xunit;

namespace PgVault.Core.Tests;

/// <summary>
/// The repository module (<c>src/PgVault.Engine/Repository</c>) is the only writer of repository objects and the only
/// code that builds or parses keys: outside it and the stores themselves, no source file calls a store's
/// <c>WriteAsync</c> or spells a key of the layout. A grep over <c>src/</c>, so a new caller fails here, not in review.
/// </summary>
public sealed partial class RepositoryModuleRuleTests
{
    /// <summary>Where writing objects and spelling keys belong.</summary>
    private static readonly string[] Allowed =
    [
        "src/PgVault.Engine/Repository/",
        "src/PgVault.Engine/Storage/",
        "src/PgVault.Storage.S3/",
        "src/PgVault.Core/Storage/",
        // The compressing write filter the repository module writes its compressed objects through.
        "src/PgVault.Engine/Compression/",
    ];

    [Fact]
    public void Only_the_repository_module_writes_objects_and_spells_keys()
    {
        var root = ProjectReferenceTests.RepositoryRoot();
        var offenders = new List<string>();
        foreach (var file in Directory.GetFiles(Path.Combine(root, "src"), "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            if (relative.Contains("/obj/", StringComparison.Ordinal) || relative.Contains("/bin/", StringComparison.Ordinal)
                || Allowed.Any(a => relative.StartsWith(a, StringComparison.Ordinal)))
            {
                continue;
            }

            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var code = lines[i].TrimStart();
                if (code.StartsWith("//", StringComparison.Ordinal))
                    continue;
                if (StoreWrite().IsMatch(code) || KeyLiteral().IsMatch(code))
                    offenders.Add($"{relative}:{i + 1}: {code}");
            }
        }

        Assert.True(offenders.Count == 0,
            "outside src/PgVault.Engine/Repository (and the stores), code writes objects or spells keys; go through ChainRepository, " +
            "RepositoryProbe, RepositoryLayout or RepositoryKey instead:\n" + string.Join('\n', offenders));
    }

    /// <summary>A call of <c>IObjectStore.WriteAsync</c> on something named like a store.</summary>
    [GeneratedRegex(@"\b\w*[sS]tore\w*\s*\.\s*WriteAsync\s*\(")]
    private static partial Regex StoreWrite();

    /// <summary>A string literal holding a key of the layout (a prefix or a file name of it).</summary>
    [GeneratedRegex("\"(clusters/|probes/|check/|wal/|base/)|[/\"](chain\\.json|expiry\\.json|backup\\.json|backup\\.complete|backup_manifest\\.zst)\"|\\.partial[/\"]")]
    private static partial Regex KeyLiteral();
}

using PgVault.Text;

namespace PgVault.Engine.Restore;

/// <summary>How to run a pgvault build: the program and the arguments before the command (<c>dotnet pgvault.dll</c>).</summary>
public sealed record PgVaultInvocation(string Program, IReadOnlyList<string> Prefix);

/// <summary>The <c>restore_command</c> that runs this program's <c>wal-fetch</c> (PostgreSQL substitutes %f and %p).</summary>
public static class WalFetchCommandLine
{
    /// <summary>The command line running <paramref name="program"/> (with <paramref name="prefix"/>) as pgvault.</summary>
    /// <remarks>
    /// Every word but the <c>--</c> options and PostgreSQL's <c>%f</c>/<c>%p</c> is single-quoted for <c>/bin/sh</c> and
    /// has its <c>%</c> doubled (PostgreSQL expands <c>%</c> escapes first); control characters are refused. The result
    /// is still to be quoted for the configuration file (<see cref="SafeText.ConfigValue"/>).
    /// </remarks>
    public static string Build(string program, IEnumerable<string> prefix, IEnumerable<string> locationArgs, string backupId)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(locationArgs);
        var words = new[] { program }.Concat(prefix).Select(w => Word(w, "the pgvault program's path")).ToList();
        words.Add("wal-fetch");
        words.AddRange(locationArgs.Select(a => a.StartsWith("--", StringComparison.Ordinal) && a.All(c => char.IsAsciiLetterLower(c) || c == '-')
            ? a : Word(a, "a restore_command argument")));
        words.AddRange(["--backup-id", Word(backupId, "the backup id"), "\"%f\"", "\"%p\""]);
        return string.Join(' ', words);
    }

    private static string Word(string value, string what) => SafeText.PercentLiteral(SafeText.ShellWord(value, what));
}

using System.Text;
using PgVault.Errors;

namespace PgVault.Text;

/// <summary>
/// Quoting for the text PgVault hands to other interpreters: <c>/bin/sh</c> (PostgreSQL runs <c>restore_command</c> and
/// <c>pg_ctl</c> runs the server through it), PostgreSQL's configuration file syntax, and the <c>%</c> escapes of
/// <c>restore_command</c>. Control characters are refused everywhere: no quoting survives a newline in a
/// configuration file line, and a NUL ends a C string.
/// </summary>
public static class SafeText
{
    /// <summary>Refuses <paramref name="value"/> when it holds a control character (newline, NUL, escape, ...).</summary>
    public static string NoControlCharacters(string value, string what)
    {
        ArgumentNullException.ThrowIfNull(value);
        foreach (var c in value)
        {
            if (char.IsControl(c))
            {
                throw new PgVaultException(ErrorCode.InvalidConfiguration,
                    $"{what} holds a control character (U+{(int)c:X4}), which PgVault does not pass to the shell or to PostgreSQL's configuration",
                    "use a path without control characters");
            }
        }

        return value;
    }

    /// <summary>
    /// One shell word: <paramref name="value"/> in single quotes, each <c>'</c> written as <c>'\''</c>. Inside single
    /// quotes <c>/bin/sh</c> interprets nothing (<c>$</c>, backtick, <c>\</c>, <c>"</c>, spaces are literal).
    /// </summary>
    public static string ShellWord(string value, string what = "a value")
    {
        NoControlCharacters(value, what);
        return "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    /// <summary>
    /// Literal text inside a <c>restore_command</c> (or <c>archive_command</c>): PostgreSQL replaces <c>%f</c>, <c>%p</c>,
    /// <c>%r</c> and <c>%%</c> before the shell sees the command, so every <c>%</c> meant literally is doubled.
    /// </summary>
    public static string PercentLiteral(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return value.Replace("%", "%%", StringComparison.Ordinal);
    }

    /// <summary>
    /// A quoted value for a PostgreSQL configuration file (<c>postgresql.conf</c>, <c>postgresql.auto.conf</c>):
    /// <c>'...'</c> with <c>'</c> doubled and <c>\</c> doubled (the parser reads backslash escapes inside quotes).
    /// </summary>
    public static string ConfigValue(string value, string what = "a setting")
    {
        NoControlCharacters(value, what);
        var b = new StringBuilder(value.Length + 2).Append('\'');
        foreach (var c in value)
        {
            b.Append(c switch
            {
                '\'' => "''",
                '\\' => "\\\\",
                _ => c.ToString(),
            });
        }

        return b.Append('\'').ToString();
    }
}

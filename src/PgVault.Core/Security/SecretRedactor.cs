using System.Text.RegularExpressions;

namespace PgVault.Security;

/// <summary>
/// Strips passwords from text that may carry a connection string: Npgsql/ADO.NET (<c>Password=…;</c>, <c>Pwd=…</c>),
/// libpq conninfo (<c>password='…'</c>) and URIs (<c>postgres://user:secret@host</c>). For messages that leave the
/// process through an unauthenticated endpoint or a log line and may quote text PgVault did not write.
/// </summary>
public static partial class SecretRedactor
{
    public const string Mask = "***";

    /// <summary>The text with every password value replaced by <see cref="Mask"/>; null stays null.</summary>
    public static string? Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
            return text;
        var result = KeyValuePassword().Replace(text, m => m.Groups["key"].Value + "=" + Mask);
        return UriPassword().Replace(result, m => m.Groups["prefix"].Value + Mask + "@");
    }

    // key = value, the value quoted ('…' with \' escapes, "…") or up to ';' or whitespace.
    [GeneratedRegex("""(?<key>\b(?:password|pwd|passfile)\s*)=\s*(?:'(?:[^'\\]|\\.)*'|"[^"]*"|[^;\s]*)""",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, 1000)]
    private static partial Regex KeyValuePassword();

    [GeneratedRegex("""(?<prefix>\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@""", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, 1000)]
    private static partial Regex UriPassword();
}

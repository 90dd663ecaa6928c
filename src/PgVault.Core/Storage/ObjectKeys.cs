using PgVault.Errors;

namespace PgVault.Storage;

/// <summary>
/// The rules every <see cref="IObjectStore"/> applies to keys and list prefixes, so that a key valid on one backend is
/// valid on all of them (a directory on disk, an S3 bucket).
/// </summary>
/// <remarks>
/// A key is 1 to <see cref="MaxKeyLength"/> characters of <c>[A-Za-z0-9-_.=/]</c>, made of non-empty '/'-separated
/// segments of at most <see cref="MaxSegmentLength"/> characters. It never starts or ends with '/', never contains "..",
/// and no segment starts with '.': on a filesystem such names are hidden, and the local store keeps its temporary files
/// under them. <c>tests/PgVault.Testing/InMemoryObjectStore.cs</c> writes these rules out again as an independent second
/// implementation; the contract suite checks that both agree. Here in Core so that every store (the engine's, S3's)
/// shares them without referencing the engine.
/// </remarks>
public static class ObjectKeys
{
    /// <summary>Longest key accepted (S3 allows 1024 bytes).</summary>
    public const int MaxKeyLength = 1024;

    /// <summary>Longest segment accepted (filesystems allow 255 bytes per name).</summary>
    public const int MaxSegmentLength = 255;

    private const string AllowedCharacters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.=/";

    /// <summary>Whether <paramref name="key"/> is a valid object key.</summary>
    public static bool IsValid(string? key) => Problem(key) is null;

    /// <summary>Throws <see cref="PgVaultException"/> (<see cref="ErrorCode.InvalidObjectKey"/>) unless the key is valid.</summary>
    public static string Validate(string? key)
    {
        var problem = Problem(key);
        if (problem is not null)
            throw new PgVaultException(ErrorCode.InvalidObjectKey, $"'{key}' is not a valid repository key: {problem}");
        return key!;
    }

    /// <summary>
    /// Throws <see cref="PgVaultException"/> (<see cref="ErrorCode.InvalidObjectKey"/>) unless <paramref name="prefix"/> can
    /// start a key: empty, or the allowed characters without a leading '/' and without "..". It may end anywhere, also
    /// within a segment.
    /// </summary>
    public static string ValidatePrefix(string? prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        string? problem = null;
        if (prefix.Length > MaxKeyLength)
            problem = $"longer than {MaxKeyLength} characters";
        else if (prefix.AsSpan().ContainsAnyExcept(AllowedCharacters))
            problem = "only ASCII letters, digits, '-', '_', '.', '=' and '/' are allowed";
        else if (prefix.StartsWith('/'))
            problem = "it starts with '/'";
        else if (prefix.Contains("..", StringComparison.Ordinal))
            problem = "it contains \"..\"";
        if (problem is not null)
            throw new PgVaultException(ErrorCode.InvalidObjectKey, $"'{prefix}' is not a valid repository key prefix: {problem}");
        return prefix;
    }

    /// <summary>Whether <paramref name="name"/> is a valid key segment (a file or directory name of the local store).</summary>
    public static bool IsValidSegment(ReadOnlySpan<char> name) =>
        name.Length is > 0 and <= MaxSegmentLength && name[0] != '.' && !name.ContainsAnyExcept(AllowedCharacters) && !name.Contains('/');

    private static string? Problem(string? key)
    {
        if (string.IsNullOrEmpty(key))
            return "it is empty";
        if (key.Length > MaxKeyLength)
            return $"longer than {MaxKeyLength} characters";
        if (key.AsSpan().ContainsAnyExcept(AllowedCharacters))
            return "only ASCII letters, digits, '-', '_', '.', '=' and '/' are allowed";
        if (key.StartsWith('/') || key.EndsWith('/'))
            return "it starts or ends with '/'";
        if (key.Contains("..", StringComparison.Ordinal))
            return "it contains \"..\"";
        foreach (var range in key.AsSpan().Split('/'))
        {
            var segment = key.AsSpan(range.Start.Value, range.End.Value - range.Start.Value);
            if (segment.IsEmpty)
                return "it contains an empty segment (\"//\")";
            if (segment[0] == '.')
                return "a segment starts with '.'";
            if (segment.Length > MaxSegmentLength)
                return $"a segment is longer than {MaxSegmentLength} characters";
        }

        return null;
    }
}

using System.Security.Cryptography;
using System.Text;

namespace PgVault.Security;

/// <summary>
/// API tokens: 32 random bytes, base64url, prefixed <c>pgv_</c>. Only <c>sha256:&lt;hex&gt;</c> of a token is stored;
/// a long random token needs no slow hash.
/// </summary>
public static class TokenHasher
{
    public const string TokenPrefix = "pgv_";
    private const string HashPrefix = "sha256:";

    public static string NewToken() => TokenPrefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string Hash(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return HashPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
    }

    /// <summary>The raw 32-byte digest a stored hash encodes, or null when it is malformed.</summary>
    public static byte[]? DecodeHash(string? hash)
    {
        if (!IsValidHash(hash))
            return null;
        return Convert.FromHexString(hash![HashPrefix.Length..]);
    }

    public static byte[] Digest(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return SHA256.HashData(Encoding.UTF8.GetBytes(token));
    }

    public static bool IsValidHash(string? hash) =>
        hash is not null && hash.StartsWith(HashPrefix, StringComparison.Ordinal) && hash.Length == HashPrefix.Length + 64
        && hash.AsSpan(HashPrefix.Length).ContainsAnyExcept("0123456789abcdefABCDEF") is false;

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

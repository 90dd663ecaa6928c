using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace PgVault.Security;

/// <summary>
/// Slow salted password hashes: PBKDF2-HMAC-SHA256, format <c>$pbkdf2-sha256$i=ITERATIONS$SALT$HASH</c> (base64).
/// </summary>
public static class PasswordHasher
{
    /// <summary>OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.</summary>
    public const int DefaultIterations = 600_000;

    /// <summary>Below this a hash is refused as too weak.</summary>
    public const int MinIterations = 10_000;

    /// <summary>Above this a hash is refused: each check would cost seconds of CPU (about 0.35 s per million iterations
    /// on one core), which any client could make the server pay with a wrong password.</summary>
    public const int MaxIterations = 2_000_000;

    private const string Prefix = "$pbkdf2-sha256$";
    private const int SaltBytes = 16;
    private const int HashBytes = 32;

    public static string Hash(string password, int iterations = DefaultIterations)
    {
        ArgumentNullException.ThrowIfNull(password);
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, MinIterations);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(iterations, MaxIterations);
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, HashBytes);
        return $"{Prefix}i={iterations.ToString(CultureInfo.InvariantCulture)}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    /// <summary>Checks a password against a hash in constant time (for a given hash).</summary>
    public static bool Verify(string password, string encoded)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (!TryParse(encoded, out var parsed, out _))
            return false;
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), parsed.Salt, parsed.Iterations,
            HashAlgorithmName.SHA256, parsed.Hash.Length);
        return CryptographicOperations.FixedTimeEquals(actual, parsed.Hash);
    }

    public readonly record struct Parsed(int Iterations, byte[] Salt, byte[] Hash);

    public static bool TryParse(string? encoded, out Parsed parsed, out string reason)
    {
        parsed = default;
        if (string.IsNullOrEmpty(encoded) || !encoded.StartsWith(Prefix, StringComparison.Ordinal))
        {
            reason = $"must start with '{Prefix}'";
            return false;
        }

        var parts = encoded[Prefix.Length..].Split('$');
        if (parts.Length != 3 || !parts[0].StartsWith("i=", StringComparison.Ordinal)
            || !int.TryParse(parts[0].AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out var iterations))
        {
            reason = "expected '$pbkdf2-sha256$i=N$salt$hash'";
            return false;
        }

        if (iterations < MinIterations)
        {
            reason = $"{iterations} iterations is below the minimum of {MinIterations}";
            return false;
        }

        if (iterations > MaxIterations)
        {
            reason = $"{iterations} iterations is above the maximum of {MaxIterations} (each check would cost seconds of CPU)";
            return false;
        }

        try
        {
            var salt = Convert.FromBase64String(parts[1]);
            var hash = Convert.FromBase64String(parts[2]);
            if (salt.Length < 8 || hash.Length < 16)
            {
                reason = "salt or hash too short";
                return false;
            }

            parsed = new Parsed(iterations, salt, hash);
            reason = "";
            return true;
        }
        catch (FormatException)
        {
            reason = "salt or hash is not base64";
            return false;
        }
    }
}

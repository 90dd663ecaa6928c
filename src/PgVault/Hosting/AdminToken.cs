using System.Security.Cryptography;
using PgVault.Configuration;
using PgVault.Security;

namespace PgVault.Hosting;

/// <summary>
/// The zero-configuration credential: with no users or tokens configured, the first <c>serve</c> creates an admin token,
/// prints it once, and keeps only its hash (mode 0600) in the data directory.
/// </summary>
public static class AdminToken
{
    public const string FileName = "admin-token.sha256";

    public static TokenOptions Ensure(PgVaultOptions options, TextWriter console)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var path = Path.Combine(options.DataDirectoryFullPath, FileName);
        if (File.Exists(path))
        {
            var hash = File.ReadAllText(path).Trim();
            if (!TokenHasher.IsValidHash(hash))
            {
                throw new Errors.PgVaultException(Errors.ErrorCode.InvalidConfiguration, $"'{path}' does not hold a token hash",
                    "delete it to have a new admin token created, or configure PgVault:Tokens");
            }

            console.WriteLine($"Using the admin token created on first start (its hash is in {path}).");
            return new TokenOptions { Name = "admin", TokenHash = hash, Clusters = [PgVaultOptionsValidator.AllClusters] };
        }

        var token = TokenHasher.NewToken();
        var tokenHash = TokenHasher.Hash(token);
        // A new file of a random name (O_CREAT|O_EXCL: never a file or link someone else put there), then renamed.
        var temp = $"{path}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.tmp";
        var fileOptions = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Options = FileOptions.WriteThrough,
        };
        if (!OperatingSystem.IsWindows())
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            using (var stream = new FileStream(temp, fileOptions))
            using (var writer = new StreamWriter(stream))
                writer.WriteLine(tokenHash);
            File.Move(temp, path, overwrite: false);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }

        console.WriteLine("No users or tokens are configured, so an admin token was created. It is shown only this once:");
        console.WriteLine();
        console.WriteLine($"    {token}");
        console.WriteLine();
        console.WriteLine($"Send it as 'Authorization: Bearer <token>'. Only its hash is kept, in {path}.");
        console.WriteLine("Configure PgVault:Users or PgVault:Tokens to replace it (see 'pgvault token create').");
        return new TokenOptions { Name = "admin", TokenHash = tokenHash, Clusters = [PgVaultOptionsValidator.AllClusters] };
    }
}

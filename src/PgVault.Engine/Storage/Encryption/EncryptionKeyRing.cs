using System.Diagnostics.CodeAnalysis;
using PgVault.Configuration;
using PgVault.Errors;

namespace PgVault.Engine.Storage.Encryption;

/// <summary>A 256-bit key and its id. <see cref="ToString"/> shows the id only.</summary>
public sealed class EncryptionKey
{
    public EncryptionKey(string id, byte[] material)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(material);
        if (id.Length > EncryptionFormat.MaxKeyIdLength || id.AsSpan().ContainsAnyExcept(IdCharacters))
            throw new ArgumentException($"key id '{id}' must be 1-{EncryptionFormat.MaxKeyIdLength} of A-Z a-z 0-9 . _ -", nameof(id));
        if (material.Length != 32)
            throw new ArgumentException($"key '{id}' must be 32 bytes, not {material.Length}", nameof(material));
        Id = id;
        Material = material;
    }

    private const string IdCharacters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

    public string Id { get; }

    internal byte[] Material { get; }

    public override string ToString() => $"key '{Id}'";
}

/// <summary>The keys of a location: the one new objects are encrypted with, and every one objects are read with.</summary>
public sealed class EncryptionKeyRing
{
    private readonly Dictionary<string, EncryptionKey> _keys;

    public EncryptionKeyRing(EncryptionKey writeKey, IEnumerable<EncryptionKey> readKeys)
    {
        ArgumentNullException.ThrowIfNull(writeKey);
        ArgumentNullException.ThrowIfNull(readKeys);
        WriteKey = writeKey;
        _keys = new Dictionary<string, EncryptionKey>(StringComparer.Ordinal) { [writeKey.Id] = writeKey };
        foreach (var key in readKeys)
        {
            if (_keys.TryGetValue(key.Id, out var other) && !ReferenceEquals(other, key))
                throw new ArgumentException($"key id '{key.Id}' is given twice", nameof(readKeys));
            _keys[key.Id] = key;
        }
    }

    /// <summary>The key new objects are encrypted with.</summary>
    public EncryptionKey WriteKey { get; }

    /// <summary>Every configured key id, in ordinal order.</summary>
    public IEnumerable<string> Ids => _keys.Keys.Order(StringComparer.Ordinal);

    public bool TryGet(string id, [NotNullWhen(true)] out EncryptionKey? key) => _keys.TryGetValue(id, out key);

    /// <summary>
    /// The keys of a location's <see cref="EncryptionOptions"/> (validated by <see cref="PgVaultOptionsValidator"/>):
    /// <c>base64:</c> values, <c>env:</c> variables holding base64, <c>file:</c> files holding base64 or 32 raw bytes
    /// (relative to <paramref name="dataDirectory"/>). Errors name <paramref name="configKey"/> and the key id, never a key.
    /// </summary>
    public static EncryptionKeyRing FromOptions(EncryptionOptions options, string dataDirectory, string configKey)
    {
        ArgumentNullException.ThrowIfNull(options);
        var keys = new List<EncryptionKey>();
        foreach (var (id, value) in options.Keys)
            keys.Add(new EncryptionKey(id, Resolve(id, value, dataDirectory, $"{configKey}:Keys:{id}")));
        var write = keys.FirstOrDefault(k => string.Equals(k.Id, options.KeyId, StringComparison.Ordinal))
            ?? throw new PgVaultException(ErrorCode.InvalidConfiguration, $"{configKey}:KeyId '{options.KeyId}' is not one of {configKey}:Keys");
        return new EncryptionKeyRing(write, keys);
    }

    private static byte[] Resolve(string id, string value, string dataDirectory, string configKey)
    {
        string base64;
        if (value.StartsWith(EncryptionOptions.Base64Scheme, StringComparison.Ordinal))
        {
            base64 = value[EncryptionOptions.Base64Scheme.Length..];
        }
        else if (value.StartsWith(EncryptionOptions.EnvScheme, StringComparison.Ordinal))
        {
            var variable = value[EncryptionOptions.EnvScheme.Length..];
            base64 = Environment.GetEnvironmentVariable(variable)
                ?? throw new PgVaultException(ErrorCode.InvalidConfiguration,
                    $"{configKey}: environment variable '{variable}' (key '{id}') is not set");
        }
        else if (value.StartsWith(EncryptionOptions.FileScheme, StringComparison.Ordinal))
        {
            var path = Path.Combine(dataDirectory, value[EncryptionOptions.FileScheme.Length..]);
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new PgVaultException(ErrorCode.InvalidConfiguration, $"{configKey}: unable to read the file of key '{id}' ('{path}'): {ex.Message}",
                    null, ex);
            }

            if (bytes.Length == 32)
                return bytes;
            base64 = System.Text.Encoding.ASCII.GetString(bytes);
        }
        else
        {
            throw new PgVaultException(ErrorCode.InvalidConfiguration, $"{configKey} must be 'base64:<key>', 'env:<VARIABLE>' or 'file:<path>'");
        }

        var material = new byte[48];
        if (!Convert.TryFromBase64String(base64.Trim(), material, out var length) || length != 32)
        {
            throw new PgVaultException(ErrorCode.InvalidConfiguration, $"{configKey}: key '{id}' is not the base64 of 32 bytes",
                "create one with 'openssl rand -base64 32'");
        }

        return material[..32];
    }
}

using PgVault.Configuration;
using PgVault.Engine;
using PgVault.Engine.Retention;
using PgVault.Engine.Storage;
using PgVault.Engine.Storage.Encryption;
using PgVault.Errors;
using PgVault.Storage;
using PgVault.Storage.S3;

namespace PgVault.Hosting;

/// <summary>
/// The repositories of the configured locations, one store each, built on first use: a <see cref="LocalObjectStore"/>
/// for <c>filesystem</c>, an <see cref="S3ObjectStore"/> for <c>s3</c>, either wrapped in an
/// <see cref="EncryptingObjectStore"/> when the location configures <c>Encryption</c>.
/// </summary>
public sealed class LocationStores(PgVaultOptions options, ILoggerFactory? loggers = null) : IDisposable
{
    private readonly Dictionary<string, IObjectStore> _stores = new(StringComparer.Ordinal);
    private readonly Dictionary<string, S3ObjectStore> _s3 = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public IObjectStore Get(string location)
    {
        lock (_lock)
        {
            if (_stores.TryGetValue(location, out var store))
                return store;
            if (!options.Locations.TryGetValue(location, out var loc))
                throw new PgVaultException(ErrorCode.InvalidConfiguration, $"backup location '{location}' is not configured");
            var key = $"{PgVaultOptions.SectionName}:Locations:{location}";
            if (string.Equals(loc.Type, LocationOptions.S3, StringComparison.Ordinal))
            {
                var s3 = new S3ObjectStore(S3Options(loc), loggers?.CreateLogger("PgVault.Storage.S3." + location));
                _s3[location] = s3;
                store = s3;
            }
            else
            {
                store = new LocalObjectStore(FilesystemPath(options, loc), groupAccess: options.GroupAccess);
            }

            if (loc.Encryption is { } encryption)
                store = new EncryptingObjectStore(store, EncryptionKeyRing.FromOptions(encryption, options.DataDirectoryFullPath, $"{key}:Encryption"));
            _stores[location] = store;
            return store;
        }
    }

    /// <summary>The directory of a filesystem location (relative paths are taken from <c>DataDirectory</c>).</summary>
    public static string FilesystemPath(PgVaultOptions options, LocationOptions location)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.FilesystemPath(location);
    }

    /// <summary>
    /// Aborts the abandoned multipart uploads (older than the location's <c>AbandonedUploadAge</c>) of every s3 location
    /// the configured clusters use; returns how many. <c>serve</c> calls it at start-up.
    /// </summary>
    public async Task<int> AbortAbandonedUploadsAsync(CancellationToken ct)
    {
        var aborted = 0;
        foreach (var (name, loc) in options.Locations)
        {
            if (!string.Equals(loc.Type, LocationOptions.S3, StringComparison.Ordinal) || loc.AbandonedUploadAge <= TimeSpan.Zero
                || !options.Clusters.Any(c => string.Equals(c.BackupLocation, name, StringComparison.Ordinal)))
            {
                continue;
            }

            Get(name);
            S3ObjectStore s3;
            lock (_lock)
                s3 = _s3[name];
            aborted += await s3.AbortAbandonedUploadsAsync(loc.AbandonedUploadAge, ct).ConfigureAwait(false);
        }

        return aborted;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var s3 in _s3.Values)
                s3.Dispose();
            _s3.Clear();
            _stores.Clear();
        }
    }

    /// <summary>The store options of an s3 location (validated by <see cref="PgVaultOptionsValidator"/>).</summary>
    public static S3ObjectStoreOptions S3Options(LocationOptions loc)
    {
        ArgumentNullException.ThrowIfNull(loc);
        return new S3ObjectStoreOptions
        {
            Bucket = loc.Bucket!,
            Prefix = loc.Prefix,
            Endpoint = string.IsNullOrEmpty(loc.Endpoint) ? null : new Uri(loc.Endpoint),
            Region = loc.Region,
            ForcePathStyle = loc.ForcePathStyle,
            AccessKeyId = loc.AccessKeyId,
            SecretAccessKey = loc.SecretAccessKey,
            SessionToken = loc.SessionToken,
            StorageClass = loc.StorageClass,
            PartSizeBytes = loc.PartSizeBytes,
            UploadConcurrency = loc.UploadConcurrency,
            ReadConcurrency = loc.ReadConcurrency,
        };
    }
}

using System.Text.RegularExpressions;
using PgVault.Security;

namespace PgVault.Configuration;

/// <summary>
/// Checks a <see cref="PgVaultOptions"/> and names each bad key the way configuration spells it
/// (<c>PgVault:Clusters:0:Id</c>), so a bad config fails start-up with a message an operator can act on.
/// </summary>
public static class PgVaultOptionsValidator
{
    public const string AllClusters = "*";

    public static IReadOnlyList<string> Validate(PgVaultOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        var errors = new List<string>();
        const string p = PgVaultOptions.SectionName;

        if (string.IsNullOrWhiteSpace(o.DataDirectory))
            errors.Add($"{p}:DataDirectory must not be empty");

        var provider = o.Catalog.Provider;
        if (!string.Equals(provider, CatalogOptions.Sqlite, StringComparison.Ordinal)
            && !string.Equals(provider, CatalogOptions.Postgres, StringComparison.Ordinal))
        {
            errors.Add($"{p}:Catalog:Provider is '{provider}'; expected 'sqlite' or 'postgres'");
        }
        else if (string.Equals(provider, CatalogOptions.Postgres, StringComparison.Ordinal)
                 && string.IsNullOrWhiteSpace(o.Catalog.ConnectionString))
        {
            errors.Add($"{p}:Catalog:ConnectionString is required when {p}:Catalog:Provider is 'postgres'");
        }

        foreach (var (name, loc) in o.Locations)
        {
            if (string.IsNullOrWhiteSpace(name))
                errors.Add($"{p}:Locations has an empty location name");
            var lk = $"{p}:Locations:{name}";
            if (string.Equals(loc.Type, LocationOptions.Filesystem, StringComparison.Ordinal))
            {
                if (string.IsNullOrWhiteSpace(loc.Path))
                    errors.Add($"{lk}:Path is required for a filesystem location");
            }
            else if (string.Equals(loc.Type, LocationOptions.S3, StringComparison.Ordinal))
            {
                ValidateS3(loc, lk, errors);
            }
            else
            {
                errors.Add($"{lk}:Type is '{loc.Type}'; expected 'filesystem' or 's3'");
            }

            if (loc.Encryption is { } encryption)
                ValidateEncryption(encryption, $"{lk}:Encryption", errors);
        }

        var clusterIds = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < o.Clusters.Count; i++)
        {
            var c = o.Clusters[i];
            var key = $"{p}:Clusters:{i}";
            if (!Guid.TryParseExact(c.Id, "D", out _))
                errors.Add($"{key}:Id is '{c.Id}'; expected a UUID such as '{Guid.Empty}'");
            else if (!clusterIds.Add(c.Id))
                errors.Add($"{key}:Id '{c.Id}' is configured twice");
            if (string.IsNullOrWhiteSpace(c.ConnectionString))
                errors.Add($"{key}:ConnectionString is required");
            if (c.ReplicationSlot is { } slot && !Regex.IsMatch(slot, "^[a-z0-9_]{1,63}$"))
                errors.Add($"{key}:ReplicationSlot '{slot}' must be 1-63 characters of a-z, 0-9 and _");
            if (c.DataDirectory is not null && !Path.IsPathFullyQualified(c.DataDirectory))
                errors.Add($"{key}:DataDirectory '{c.DataDirectory}' must be an absolute path");
            if (c.BaseBackupSchedule is not null && !IsCron(c.BaseBackupSchedule))
                errors.Add($"{key}:BaseBackupSchedule '{c.BaseBackupSchedule}' must be a 5-field cron expression such as '0 0 * * *'");
            foreach (var (name, schedule) in new[]
                     {
                         ("FullBackupSchedule", c.FullBackupSchedule), ("DiffBackupSchedule", c.DiffBackupSchedule),
                         ("IncrementalBackupSchedule", c.IncrementalBackupSchedule),
                     })
            {
                if (schedule is null)
                    continue;
                if (c.BaseBackupSchedule is not null)
                {
                    errors.Add($"{key}:{name} and {key}:BaseBackupSchedule are both set; use the typed schedules " +
                               "(FullBackupSchedule, DiffBackupSchedule, IncrementalBackupSchedule) or BaseBackupSchedule, not both");
                }
                else if (schedule.Length > 0 && !IsCron(schedule))
                {
                    errors.Add($"{key}:{name} '{schedule}' must be a 5-field cron expression such as '0 0 * * 0', or empty (none)");
                }
            }

            if (c.RetentionDays is < 1 or > 3650)
                errors.Add($"{key}:RetentionDays is {c.RetentionDays}; expected 1 to 3650 days");
            if (c.MinBaseBackups is < 0 or > 1000)
                errors.Add($"{key}:MinBaseBackups is {c.MinBaseBackups}; expected 0 to 1000 (or leave it out)");
            if (!o.Locations.ContainsKey(c.BackupLocation))
                errors.Add($"{key}:BackupLocation '{c.BackupLocation}' is not one of {p}:Locations ({string.Join(", ", o.Locations.Keys)})");
        }

        var principals = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < o.Users.Count; i++)
        {
            var u = o.Users[i];
            var key = $"{p}:Users:{i}";
            if (string.IsNullOrWhiteSpace(u.Name) || u.Name.Contains(':', StringComparison.Ordinal))
                errors.Add($"{key}:Name must be non-empty and contain no ':'");
            else if (!principals.Add(u.Name))
                errors.Add($"{key}:Name '{u.Name}' is used twice");
            if (!PasswordHasher.TryParse(u.PasswordHash, out _, out var why))
                errors.Add($"{key}:PasswordHash is not a pgvault password hash ({why}); create one with 'pgvault hash-password'");
            ValidateGrants(u.Clusters, $"{key}:Clusters", errors);
        }

        for (var i = 0; i < o.Tokens.Count; i++)
        {
            var t = o.Tokens[i];
            var key = $"{p}:Tokens:{i}";
            if (string.IsNullOrWhiteSpace(t.Name))
                errors.Add($"{key}:Name must not be empty");
            else if (!principals.Add(t.Name))
                errors.Add($"{key}:Name '{t.Name}' is used twice");
            if (!TokenHasher.IsValidHash(t.TokenHash))
                errors.Add($"{key}:TokenHash must look like 'sha256:<64 hex digits>'; create one with 'pgvault token create'");
            ValidateGrants(t.Clusters, $"{key}:Clusters", errors);
        }

        if (o.Engine.WalFlushInterval <= TimeSpan.Zero || o.Engine.WalFlushInterval > TimeSpan.FromMinutes(1))
            errors.Add($"{p}:Engine:WalFlushInterval must be more than 0 and at most 00:01:00");
        if (o.Engine.WalSegmentMemoryHold < TimeSpan.Zero || o.Engine.WalSegmentMemoryHold > TimeSpan.FromHours(1))
            errors.Add($"{p}:Engine:WalSegmentMemoryHold must be from 00:00:00 to 01:00:00");
        if (o.Engine.BaseBackupPartSizeBytes < 1 << 20)
            errors.Add($"{p}:Engine:BaseBackupPartSizeBytes must be at least 1048576");
        if (o.Engine.BaseBackupCompression == BaseBackupCompression.Server && o.Engine.BaseBackupMethod != BaseBackupMethod.Native)
            errors.Add($"{p}:Engine:BaseBackupCompression=Server needs {p}:Engine:BaseBackupMethod=Native");
        if (o.Engine.CompressionWorkers is < 0 or > 64)
            errors.Add($"{p}:Engine:CompressionWorkers must be from 0 to 64");
        if (o.Engine.RestoreJobs is < 1 or > 64)
            errors.Add($"{p}:Engine:RestoreJobs must be from 1 to 64");
        if (o.Engine.WalPrefetchSegments is < 1 or > 256)
            errors.Add($"{p}:Engine:WalPrefetchSegments must be from 1 to 256");
        if (o.Engine.WalPrefetchJobs is < 1 or > 32)
            errors.Add($"{p}:Engine:WalPrefetchJobs must be from 1 to 32");
        if (o.Engine.CompressionLevel is < 1 or > 22)
            errors.Add($"{p}:Engine:CompressionLevel must be from 1 to 22");
        if (o.Engine.IncrementalCompressionLevel is < 1 or > 22)
            errors.Add($"{p}:Engine:IncrementalCompressionLevel must be from 1 to 22");
        if (!string.IsNullOrWhiteSpace(o.Engine.ExpirySchedule) && !IsCron(o.Engine.ExpirySchedule))
            errors.Add($"{p}:Engine:ExpirySchedule '{o.Engine.ExpirySchedule}' must be a 5-field cron expression such as '30 * * * *', or empty (off)");
        if (o.Api.ReadModel.MaxStaleness < TimeSpan.Zero || o.Api.ReadModel.MaxStaleness > TimeSpan.FromHours(1))
            errors.Add($"{p}:Api:ReadModel:MaxStaleness is {o.Api.ReadModel.MaxStaleness}; expected 00:00:00 to 01:00:00");
        if (o.Api.ReadModel.MaxBackups < 0)
            errors.Add($"{p}:Api:ReadModel:MaxBackups must be 0 or more");
        if (o.RateLimit.PermitsPerSecond < 0)
            errors.Add($"{p}:RateLimit:PermitsPerSecond must be 0 (off) or more");
        if (o.RateLimit.PermitsPerSecond > 0 && o.RateLimit.Burst < 1)
            errors.Add($"{p}:RateLimit:Burst must be at least 1");
        if (!o.Api.Tls.Enabled && !string.IsNullOrWhiteSpace(o.Api.Tls.KeyFile))
            errors.Add($"{p}:Api:Tls:KeyFile needs {p}:Api:Tls:CertificateFile");
        if (o.Api.Tls.HstsMaxAge < TimeSpan.Zero)
            errors.Add($"{p}:Api:Tls:HstsMaxAge must not be negative (zero sends no Strict-Transport-Security)");
        if (o.Api.Console.SessionIdleTimeout < TimeSpan.FromMinutes(1) || o.Api.Console.SessionIdleTimeout > TimeSpan.FromHours(12))
            errors.Add($"{p}:Api:Console:SessionIdleTimeout is {o.Api.Console.SessionIdleTimeout}; expected 00:01:00 to 12:00:00");
        if (o.RateLimit.FailedLoginBurst < 1)
            errors.Add($"{p}:RateLimit:FailedLoginBurst must be at least 1");
        if (!(o.RateLimit.FailedLoginsPerMinute > 0) || o.RateLimit.FailedLoginsPerMinute > 60_000)
            errors.Add($"{p}:RateLimit:FailedLoginsPerMinute must be more than 0 and at most 60000");
        if (o.RateLimit.MaxConcurrentPasswordChecks is < 1 or > 1024)
            errors.Add($"{p}:RateLimit:MaxConcurrentPasswordChecks must be from 1 to 1024");
        if (!string.Equals(o.Logging.Format, LoggingOptions.Text, StringComparison.Ordinal)
            && !string.Equals(o.Logging.Format, LoggingOptions.Json, StringComparison.Ordinal))
        {
            errors.Add($"{p}:Logging:Format is '{o.Logging.Format}'; expected 'text' or 'json'");
        }

        if (o.Health.Timeout <= TimeSpan.Zero || o.Health.Timeout > TimeSpan.FromMinutes(1))
            errors.Add($"{p}:Health:Timeout must be more than 0 and at most 00:01:00");
        if (o.Fleet.LeaseTtl < TimeSpan.FromSeconds(3) || o.Fleet.LeaseTtl > TimeSpan.FromMinutes(5))
            errors.Add($"{p}:Fleet:LeaseTtl must be from 00:00:03 to 00:05:00");
        if (o.Fleet.ActionTimeout < TimeSpan.FromSeconds(1) || o.Fleet.ActionTimeout > TimeSpan.FromMinutes(5))
            errors.Add($"{p}:Fleet:ActionTimeout must be from 00:00:01 to 00:05:00");
        if (o.Fleet.InstanceName is { } instance && (instance.Length is 0 or > 100 || instance.Any(char.IsControl)))
            errors.Add($"{p}:Fleet:InstanceName must be 1 to 100 characters without control characters");

        return errors;
    }

    private static void ValidateS3(LocationOptions loc, string key, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(loc.Bucket))
            errors.Add($"{key}:Bucket is required for an s3 location");
        else if (!Regex.IsMatch(loc.Bucket, "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"))
            errors.Add($"{key}:Bucket '{loc.Bucket}' is not a valid bucket name (3-63 characters of a-z, 0-9, '.' and '-')");
        if (loc.Endpoint is { Length: > 0 } endpoint
            && (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)))
        {
            errors.Add($"{key}:Endpoint '{endpoint}' must be an absolute http:// or https:// URL");
        }

        if (loc.Prefix is { Length: > 0 } prefix
            && (!Regex.IsMatch(prefix, "^[A-Za-z0-9._=/-]{1,900}$") || prefix.Contains("..", StringComparison.Ordinal)
                || prefix.Contains("//", StringComparison.Ordinal) || prefix.StartsWith('/')))
        {
            errors.Add($"{key}:Prefix '{prefix}' may hold only A-Z a-z 0-9 . _ = - and '/' (not leading, doubled or \"..\")");
        }

        if (string.IsNullOrEmpty(loc.AccessKeyId) != string.IsNullOrEmpty(loc.SecretAccessKey))
            errors.Add($"{key}:AccessKeyId and {key}:SecretAccessKey go together (or leave both out for the environment / AWS default chain)");
        if (loc.PartSizeBytes < 5 * 1024 * 1024)
            errors.Add($"{key}:PartSizeBytes must be at least 5242880 (S3's smallest part)");
        if (loc.UploadConcurrency is < 1 or > 64)
            errors.Add($"{key}:UploadConcurrency must be from 1 to 64");
        if (loc.ReadConcurrency is < 1 or > 64)
            errors.Add($"{key}:ReadConcurrency must be from 1 to 64");
        if (loc.AbandonedUploadAge < TimeSpan.Zero)
            errors.Add($"{key}:AbandonedUploadAge must not be negative (zero turns the cleanup off)");
    }

    /// <summary>Checks the shape of the encryption settings. Key material is never echoed: messages name the key id.</summary>
    private static void ValidateEncryption(EncryptionOptions e, string key, List<string> errors)
    {
        if (e.Keys.Count == 0)
            errors.Add($"{key}:Keys is empty; configure at least the key named by {key}:KeyId");
        foreach (var (id, value) in e.Keys)
        {
            if (!Regex.IsMatch(id, "^[A-Za-z0-9._-]{1,32}$"))
                errors.Add($"{key}:Keys:{id} is not a valid key id (1-32 of A-Z a-z 0-9 . _ -)");
            if (value is null || value.StartsWith(EncryptionOptions.EnvScheme, StringComparison.Ordinal)
                                 && value.Length > EncryptionOptions.EnvScheme.Length
                             || value.StartsWith(EncryptionOptions.FileScheme, StringComparison.Ordinal)
                                 && value.Length > EncryptionOptions.FileScheme.Length)
            {
                continue;
            }

            if (!value.StartsWith(EncryptionOptions.Base64Scheme, StringComparison.Ordinal))
            {
                errors.Add($"{key}:Keys:{id} must be 'base64:<key>', 'env:<VARIABLE>' or 'file:<path>'");
                continue;
            }

            var bytes = new byte[64];
            if (!Convert.TryFromBase64String(value[EncryptionOptions.Base64Scheme.Length..], bytes, out var length) || length != 32)
                errors.Add($"{key}:Keys:{id} is not the base64 of 32 bytes (create one with 'openssl rand -base64 32')");
        }

        if (string.IsNullOrEmpty(e.KeyId))
            errors.Add($"{key}:KeyId is required: the id of the key new objects are encrypted with");
        else if (!e.Keys.ContainsKey(e.KeyId))
            errors.Add($"{key}:KeyId '{e.KeyId}' is not one of {key}:Keys ({string.Join(", ", e.Keys.Keys)})");
    }

    private static void ValidateGrants(List<string> grants, string key, List<string> errors)
    {
        if (grants.Count == 0)
            errors.Add($"{key} is empty; list cluster ids or '*' for all");
        for (var j = 0; j < grants.Count; j++)
        {
            var g = grants[j];
            if (!string.Equals(g, AllClusters, StringComparison.Ordinal) && !Guid.TryParseExact(g, "D", out _))
                errors.Add($"{key}:{j} is '{g}'; expected a cluster UUID or '*'");
        }
    }

    /// <summary>The lowercase form of a UUID; anything else unchanged.</summary>
    public static string CanonicalClusterId(string id) => Guid.TryParseExact(id, "D", out var g) ? g.ToString("D") : id;

    /// <summary>Fills the defaults that depend on other settings: the <c>local</c> location.</summary>
    public static void ApplyDefaults(PgVaultOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.Locations.Count == 0)
            o.Locations["local"] = new LocationOptions { Type = LocationOptions.Filesystem, Path = "repository" };
        // Cluster ids are UUIDs: any spelling is kept in the canonical lowercase form the API shows.
        foreach (var c in o.Clusters)
        {
            c.Id = CanonicalClusterId(c.Id);
            c.DisplayName ??= c.Id;
        }

        foreach (var grants in o.Users.Select(u => u.Clusters).Concat(o.Tokens.Select(t => t.Clusters)))
        {
            for (var i = 0; i < grants.Count; i++)
                grants[i] = CanonicalClusterId(grants[i]);
        }
    }

    /// <summary>A five-field cron expression as the schedules are parsed (Cronos, standard format).</summary>
    private static bool IsCron(string? expression) =>
        !string.IsNullOrWhiteSpace(expression) && Cronos.CronExpression.TryParse(expression, Cronos.CronFormat.Standard, out _);
}

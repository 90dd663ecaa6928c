using PgVault.Configuration;
using PgVault.Security;
using Xunit;

namespace PgVault.Core.Tests;

public sealed class ConfigurationValidatorTests
{
    private static PgVaultOptions Valid()
    {
        var o = new PgVaultOptions
        {
            Clusters = [new ClusterOptions { Id = "6B7D1F3E-2C4A-4E8B-9F10-1A2B3C4D5E6F", ConnectionString = "Host=db" }],
            Users = [new UserOptions { Name = "alice", PasswordHash = PasswordHasher.Hash("x", PasswordHasher.MinIterations), Clusters = ["*"] }],
            Tokens = [new TokenOptions { Name = "ci", TokenHash = TokenHasher.Hash("t"), Clusters = ["6B7D1F3E-2C4A-4E8B-9F10-1A2B3C4D5E6F"] }],
        };
        PgVaultOptionsValidator.ApplyDefaults(o);
        return o;
    }

    [Fact]
    public void Defaults_add_a_local_location_and_canonical_ids()
    {
        var o = Valid();
        Assert.Empty(PgVaultOptionsValidator.Validate(o));
        Assert.Equal("repository", o.Locations["local"].Path);
        Assert.Equal("6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f", o.Clusters[0].Id);
        Assert.Equal(o.Clusters[0].Id, o.Clusters[0].DisplayName);
        Assert.Equal(o.Clusters[0].Id, o.Tokens[0].Clusters[0]);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(64, true)]
    [InlineData(65, false)]
    public void RestoreJobs_is_from_1_to_64(int jobs, bool valid)
    {
        var o = Valid();
        o.Engine.RestoreJobs = jobs;
        var errors = PgVaultOptionsValidator.Validate(o);
        Assert.Equal(valid, !errors.Any(e => e.StartsWith("PgVault:Engine:RestoreJobs must be from 1 to 64", StringComparison.Ordinal)));
    }

    [Fact]
    public void Every_problem_is_reported_with_its_key()
    {
        var o = Valid();
        o.Catalog.Provider = "postgres";
        o.Clusters.Add(new ClusterOptions { Id = o.Clusters[0].Id, ConnectionString = "", BackupLocation = "s3" });
        o.Users.Add(new UserOptions { Name = "alice", PasswordHash = "x", Clusters = ["nope"] });
        o.RateLimit.Burst = 0;
        var errors = PgVaultOptionsValidator.Validate(o);
        Assert.Contains(errors, e => e.StartsWith("PgVault:Catalog:ConnectionString", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Clusters:1:Id", StringComparison.Ordinal) && e.Contains("twice", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Clusters:1:ConnectionString", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Clusters:1:BackupLocation", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Users:1:Name", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Users:1:PasswordHash", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Users:1:Clusters:0", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:RateLimit:Burst", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("a b c d e", false)]
    [InlineData("61 * * * *", false)]
    [InlineData("0 0 * * 8", false)]
    [InlineData("0 0 * * *", true)]
    [InlineData("*/15 2-4 * * MON-FRI", true)]
    public void Cron_expressions_are_parsed_not_counted(string schedule, bool valid)
    {
        var o = Valid();
        o.Clusters[0].BaseBackupSchedule = schedule;
        o.Engine.ExpirySchedule = schedule;
        var errors = PgVaultOptionsValidator.Validate(o);
        Assert.Equal(valid ? 0 : 2, errors.Count(e => e.Contains("cron expression", StringComparison.Ordinal)));
    }

    [Fact]
    public void Typed_schedules_are_cron_or_empty_and_exclude_the_single_schedule_of_earlier_versions()
    {
        var o = Valid();
        o.Clusters[0].FullBackupSchedule = "0 0 * * 0";
        o.Clusters[0].IncrementalBackupSchedule = "";
        o.Clusters[0].DiffBackupSchedule = "0 0 * * 8";
        Assert.Equal(["PgVault:Clusters:0:DiffBackupSchedule '0 0 * * 8' must be a 5-field cron expression such as '0 0 * * 0', or empty (none)"],
            PgVaultOptionsValidator.Validate(o));
        o.Clusters[0].DiffBackupSchedule = null;
        Assert.Empty(PgVaultOptionsValidator.Validate(o));
        o.Clusters[0].BaseBackupSchedule = "0 0 * * *";
        var errors = PgVaultOptionsValidator.Validate(o);
        Assert.Equal(2, errors.Count);
        Assert.All(errors, e => Assert.Contains("and PgVault:Clusters:0:BaseBackupSchedule are both set", e, StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_keys_are_named_in_full_with_the_nearest_valid_key()
    {
        var errors = ConfigurationKeys.FindUnknown(
        [
            "PgVault", "PgVault:Engine", "PgVault:Engine:CompressionLevel", "PgVault:engine:compresionlevel",
            "PgVault:Clusters:0:Id", "PgVault:Clusters:0:BaseBackupShedule", "PgVault:Locations:s3:Encryption:Keys:k1",
            "PgVault:Locations:s3:Encryption:KeyID", "PgVault:Zzzzzz", "PATH", "PGVAULT_CONFIG",
        ]);
        Assert.Equal(
        [
            "unknown configuration key 'PgVault:engine:compresionlevel'; did you mean 'PgVault:engine:CompressionLevel'?",
            "unknown configuration key 'PgVault:Clusters:0:BaseBackupShedule'; did you mean 'PgVault:Clusters:0:BaseBackupSchedule'?",
        ], errors.Take(2));
        Assert.StartsWith("unknown configuration key 'PgVault:Zzzzzz'; the keys of 'PgVault' are: DataDirectory, Catalog,", errors[2],
            StringComparison.Ordinal);
        Assert.Equal(3, errors.Count);
    }

    [Fact]
    public void Retention_and_the_expiry_schedule_are_checked()
    {
        var o = Valid();
        Assert.Equal(7, o.Clusters[0].RetentionDays);
        Assert.Null(o.Clusters[0].MinBaseBackups);
        Assert.Equal("30 * * * *", o.Engine.ExpirySchedule);
        o.Clusters[0].RetentionDays = 0;
        o.Clusters[0].MinBaseBackups = -1;
        o.Engine.ExpirySchedule = "hourly";
        var errors = PgVaultOptionsValidator.Validate(o);
        Assert.Contains(errors, e => e.StartsWith("PgVault:Clusters:0:RetentionDays", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Clusters:0:MinBaseBackups", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Engine:ExpirySchedule", StringComparison.Ordinal));

        o.Clusters[0].RetentionDays = 3650;
        o.Clusters[0].MinBaseBackups = 0;
        o.Engine.ExpirySchedule = ""; // off
        Assert.Empty(PgVaultOptionsValidator.Validate(o));
    }

    [Fact]
    public void A_principal_name_may_not_be_shared_between_a_user_and_a_token()
    {
        var o = Valid();
        o.Tokens[0].Name = "alice";
        Assert.Contains(PgVaultOptionsValidator.Validate(o), e => e.StartsWith("PgVault:Tokens:0:Name", StringComparison.Ordinal));
    }

    [Fact]
    public void A_complete_s3_location_with_encryption_is_valid()
    {
        var o = Valid();
        o.Locations["s3"] = new LocationOptions
        {
            Type = LocationOptions.S3,
            Endpoint = "https://s3.eu-central-1.ionoscloud.com",
            Region = "eu-central-1",
            Bucket = "pgvault-backups",
            Prefix = "prod/eu",
            ForcePathStyle = true,
            Encryption = new EncryptionOptions
            {
                KeyId = "2026",
                Keys = { ["2025"] = "env:PGVAULT_KEY_2025", ["2026"] = "base64:" + Convert.ToBase64String(new byte[32]), ["f"] = "file:keys/f" },
            },
        };
        Assert.Empty(PgVaultOptionsValidator.Validate(o));
    }

    [Fact]
    public void Bad_s3_and_encryption_settings_are_reported_with_their_keys_and_never_a_secret()
    {
        var o = Valid();
        const string secret = "c2VjcmV0LWtleS1tYXRlcmlhbA==";   // base64 of 19 bytes: not a key
        o.Locations["a"] = new LocationOptions { Type = LocationOptions.S3, Endpoint = "ftp://x", Prefix = "/abs", AccessKeyId = "AKIA" };
        o.Locations["b"] = new LocationOptions
        {
            Type = LocationOptions.S3,
            Bucket = "Not_A_Bucket",
            PartSizeBytes = 1024,
            UploadConcurrency = 0,
            Encryption = new EncryptionOptions { KeyId = "missing", Keys = { ["k1"] = "base64:" + secret, ["bad id!"] = "plain", ["k3"] = "env:" } },
        };
        o.Locations["c"] = new LocationOptions { Type = "gcs" };
        o.Locations["d"] = new LocationOptions { Path = "d", Encryption = new EncryptionOptions() };

        var errors = PgVaultOptionsValidator.Validate(o);

        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:a:Bucket is required", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:a:Endpoint", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:a:Prefix", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:a:AccessKeyId and", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:b:Bucket 'Not_A_Bucket'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:b:PartSizeBytes", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:b:UploadConcurrency", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:b:Encryption:Keys:k1 is not the base64 of 32 bytes", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:b:Encryption:Keys:bad id! is not a valid key id", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:b:Encryption:Keys:bad id! must be", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:b:Encryption:Keys:k3 must be", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:b:Encryption:KeyId 'missing' is not one of", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:c:Type is 'gcs'; expected 'filesystem' or 's3'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:d:Encryption:Keys is empty", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:Locations:d:Encryption:KeyId is required", StringComparison.Ordinal));
        Assert.DoesNotContain(errors, e => e.Contains(secret, StringComparison.Ordinal));
    }
}

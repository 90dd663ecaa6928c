using Microsoft.Extensions.Configuration;
using PgVault.Errors;
using PgVault.Hosting;
using PgVault.Security;
using Xunit;

namespace PgVault.Tests;

/// <summary>A bad configuration fails start-up with a message naming the key.</summary>
public sealed class ConfigurationTests
{
    private static PgVaultException Load(Dictionary<string, string?> settings) =>
        Assert.Throws<PgVaultException>(() => PgVaultApp.LoadOptions(new ConfigurationBuilder().AddInMemoryCollection(settings).Build()));

    [Theory]
    [InlineData("PgVault:Catalog:Provider", "mysql", "PgVault:Catalog:Provider")]
    [InlineData("PgVault:Clusters:0:Id", "not-a-uuid", "PgVault:Clusters:0:Id")]
    [InlineData("PgVault:Clusters:0:BackupLocation", "nowhere", "PgVault:Clusters:0:BackupLocation")]
    [InlineData("PgVault:RateLimit:PermitsPerSecond", "-1", "PgVault:RateLimit:PermitsPerSecond")]
    [InlineData("PgVault:RateLimit:PermitsPerSecond", "fast", "PgVault:RateLimit:PermitsPerSecond")]
    [InlineData("PgVault:Locations:archive:Type", "tape", "PgVault:Locations:archive:Type")]
    [InlineData("PgVault:DataDirectroy", "/typo", "DataDirectroy")]
    [InlineData("PgVault:Logging:Format", "xml", "PgVault:Logging:Format")]
    [InlineData("PgVault:Metrics:Enabled", "maybe", "PgVault:Metrics:Enabled")]
    [InlineData("PgVault:Health:Timeout", "00:00:00", "PgVault:Health:Timeout")]
    public void A_bad_value_names_its_key(string key, string value, string named)
    {
        var settings = new Dictionary<string, string?>
        {
            ["PgVault:Clusters:0:Id"] = "6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f",
            ["PgVault:Clusters:0:ConnectionString"] = "Host=db",
            [key] = value,
        };
        var ex = Load(settings);
        Assert.Equal(ErrorCode.InvalidConfiguration, ex.Code);
        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Users_and_tokens_must_hold_hashes_not_secrets()
    {
        var ex = Load(new Dictionary<string, string?>
        {
            ["PgVault:Users:0:Name"] = "alice",
            ["PgVault:Users:0:PasswordHash"] = "plaintext-password",
            ["PgVault:Users:0:Clusters:0"] = "*",
            ["PgVault:Tokens:0:Name"] = "ci",
            ["PgVault:Tokens:0:TokenHash"] = "pgv_a-raw-token",
            ["PgVault:Tokens:0:Clusters:0"] = "*",
            ["PgVault:Tokens:1:Name"] = "nogrants",
            ["PgVault:Tokens:1:TokenHash"] = TokenHasher.Hash("x"),
        });
        Assert.Contains("PgVault:Users:0:PasswordHash", ex.Message, StringComparison.Ordinal);
        Assert.Contains("PgVault:Tokens:0:TokenHash", ex.Message, StringComparison.Ordinal);
        Assert.Contains("PgVault:Tokens:1:Clusters", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("plaintext-password", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_need_no_configuration()
    {
        var options = PgVaultApp.LoadOptions(new ConfigurationBuilder().Build());
        Assert.Equal("./pgvault-data", options.DataDirectory);
        Assert.Equal("sqlite", options.Catalog.Provider);
        Assert.Equal("filesystem", options.Locations["local"].Type);
        Assert.Empty(options.Clusters);
        Assert.Equal(200, options.RateLimit.PermitsPerSecond);
    }

    [Fact]
    public void Environment_style_keys_bind_case_insensitively()
    {
        var options = PgVaultApp.LoadOptions(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["PGVAULT:DATADIRECTORY"] = "/var/lib/pgvault",
            ["PGVAULT:CATALOG:PROVIDER"] = "postgres",
            ["PGVAULT:CATALOG:CONNECTIONSTRING"] = "Host=db;Database=pgvault",
        }).Build());
        Assert.Equal("/var/lib/pgvault", options.DataDirectory);
        Assert.Equal("postgres", options.Catalog.Provider);
    }
}

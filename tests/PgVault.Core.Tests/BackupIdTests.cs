using PgVault.Catalog;
using PgVault.Errors;
using Xunit;

namespace PgVault.Core.Tests;

public sealed class BackupIdTests
{
    private const string Cluster = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";

    [Theory]
    [InlineData(Cluster + "-abcd2345-15", "abcd2345", "15")]
    [InlineData(Cluster + "-daily-16", "daily", "16")]
    [InlineData(Cluster + "-a-b-15", "a-b", "15")] // the major is after the last '-'
    public void Parse_splits_cluster_chain_and_major(string text, string chain, string major)
    {
        var id = BackupId.Parse(text);
        Assert.Equal((Cluster, chain, major), (id.ClusterId, id.ChainId, id.Major));
        Assert.Equal(text, id.Format());
        Assert.Equal(text, id.ToString());
        Assert.Equal(id, new BackupId(Cluster, chain, major));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not-a-backup-id")]
    [InlineData(Cluster)]
    [InlineData(Cluster + "-15")]
    [InlineData(Cluster + "--15")]
    [InlineData(Cluster + "-abc-")]
    [InlineData("3f2504e0-4f89-11d3-9a0c-0305e82c330x-abc-15")]
    public void What_is_not_a_backup_id_is_refused(string text)
    {
        Assert.False(BackupId.TryParse(text, out _));
        var ex = Assert.Throws<PgVaultException>(() => BackupId.Parse(text));
        Assert.Equal(ErrorCode.NotFound, ex.Code);
        Assert.Contains("is not a PgVault backup id", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IsOfChain_matches_the_whole_chain_id_only()
    {
        Assert.True(BackupId.IsOfChain(Cluster + "-a-15", Cluster, "a"));
        Assert.False(BackupId.IsOfChain(Cluster + "-a-b-15", Cluster, "a"));
        Assert.False(BackupId.IsOfChain(Cluster + "-a-15", "6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f", "a"));
        Assert.False(BackupId.IsOfChain(null, Cluster, "a"));
    }

    [Fact]
    public void A_major_with_a_dash_cannot_be_built() =>
        Assert.Throws<ArgumentException>(() => new BackupId(Cluster, "abc", "15-1"));
}

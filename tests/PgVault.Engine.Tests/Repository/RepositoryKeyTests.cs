using PgVault.Engine.Repository;
using PgVault.Postgres;
using Xunit;

namespace PgVault.Engine.Tests.Repository;

/// <summary><see cref="RepositoryKey"/> parses exactly what <see cref="RepositoryLayout"/> builds, and nothing else as a known kind.</summary>
public sealed class RepositoryKeyTests
{
    private const string Cluster = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    private const string Chain = "abcd2345";
    private static readonly string Sha = new('a', 64);

    [Fact]
    public void Every_built_key_parses_back_to_its_kind_and_fields()
    {
        var name = WalSegment.Name(2, 0x1_0000_0003);
        Assert.Equal(RepositoryObjectKind.ChainMetadata, Parse(RepositoryLayout.Chain(Cluster, Chain)).Kind);
        Assert.Equal(RepositoryObjectKind.ExpiryRecord, Parse(RepositoryLayout.ChainExpiry(Cluster, Chain)).Kind);

        var segment = Parse(RepositoryLayout.WalSegment(Cluster, Chain, 2, name, Sha));
        Assert.Equal((RepositoryObjectKind.WalSegment, 2u, 0x1_0000_0003UL, 0L, WalSegment.DefaultSizeBytes, Sha, true),
            (segment.Kind, segment.Timeline, segment.Segment, segment.Offset, segment.End, segment.Sha256, segment.InWal));

        var piece = Parse(RepositoryLayout.WalPartial(Cluster, Chain, 2, name, 0x10000, 0x2A000, Sha));
        Assert.Equal((RepositoryObjectKind.WalPiece, 2u, 0x1_0000_0003UL, 0x10000L, 0x2A000L, Sha),
            (piece.Kind, piece.Timeline, piece.Segment, piece.Offset, piece.End, piece.Sha256));

        var history = Parse(RepositoryLayout.History(Cluster, Chain, 0x1A));
        Assert.Equal((RepositoryObjectKind.History, 0x1Au, true), (history.Kind, history.Timeline, history.InWal));

        var part = Parse(RepositoryLayout.BaseBackupPart(Cluster, Chain, "20260101T000000000Z", 12));
        Assert.Equal((RepositoryObjectKind.BaseBackupPart, "20260101T000000000Z", 12), (part.Kind, part.Label, part.Part));
        Assert.Equal(RepositoryObjectKind.BaseBackupManifest, Parse(RepositoryLayout.BaseBackupManifest(Cluster, Chain, "l")).Kind);
        Assert.Equal(RepositoryObjectKind.BaseBackupMetadata, Parse(RepositoryLayout.BaseBackupMetadata(Cluster, Chain, "l")).Kind);
        Assert.Equal(RepositoryObjectKind.BaseBackupMarker, Parse(RepositoryLayout.BaseBackupComplete(Cluster, Chain, "l")).Kind);
        Assert.All(new[] { segment, piece, history, part }, k => Assert.Equal((Cluster, Chain), (k.ClusterId, k.ChainId)));
    }

    [Theory]
    [InlineData("wal/00000001/000000010000000000000001-xyz.zst")] // not a SHA-256
    [InlineData("wal/00000002/000000010000000000000001-" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.zst")] // timeline folder disagrees
    [InlineData("wal/00000001/000000010000000000000001.partial/0000000G-00010000-" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.zst")] // not hex
    [InlineData("wal/00000001/000000010000000000000001.partial/00000000-02000000-" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.zst")] // past the segment
    [InlineData("wal/history/0000000X.history")]
    [InlineData("notes.txt")]
    [InlineData("base/label/deeper/file")]
    public void Keys_outside_the_layout_are_unknown(string rest)
    {
        var key = Parse($"clusters/{Cluster}/chains/{Chain}/{rest}");
        Assert.Equal(RepositoryObjectKind.Unknown, key.Kind);
        Assert.Equal(rest.StartsWith("wal/", StringComparison.Ordinal), key.InWal);
    }

    [Fact]
    public void Other_files_of_a_base_backup_go_with_it()
    {
        var key = Parse($"clusters/{Cluster}/chains/{Chain}/base/l1/extra.bin");
        Assert.Equal((RepositoryObjectKind.BaseBackupOther, "l1"), (key.Kind, key.Label));
    }

    [Theory]
    [InlineData("probes/readyz-1")]
    [InlineData("clusters/c1/chains")]
    [InlineData("clusters/c1/other/x/chain.json")]
    public void Keys_not_under_a_chain_do_not_parse(string key) => Assert.False(RepositoryKey.TryParse(key, out _));

    private static RepositoryKey Parse(string key)
    {
        Assert.True(RepositoryKey.TryParse(key, out var parsed), key);
        return parsed;
    }
}

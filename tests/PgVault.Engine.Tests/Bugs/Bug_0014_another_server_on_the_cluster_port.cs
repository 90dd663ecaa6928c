using System.Buffers.Binary;
using System.Globalization;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.Postgres;
using PgVault.Engine.Repository;
using PgVault.Errors;
using PgVault.Engine.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests.Bugs;

/// <summary>
/// The version matrix once saw PostgreSQL 18's backup named <c>…-16</c>: its server listened on a port where a PostgreSQL
/// 16 server PgVault had streamed from had listened before, in the same process, and PgVault took the major from
/// Npgsql's <c>PostgreSqlVersion</c>, which Npgsql keeps per connection string from the first server it reached. In
/// production the same happens when a cluster's name or port is re-pointed to another server (a pg_upgrade'd cluster on
/// the old port, a failover to another cluster). Here: cluster A (16) is backed up, stopped, and cluster B (18) started
/// on A's port: PgVault must start a new backup for B, named with B's major, say why, and keep every byte of B out of
/// A's chain; and a base backup meant for A's chain refuses B.
/// </summary>
[Trait("Category", "Postgres")]
[Trait("Category", "MajorMatrix")]
public sealed class Bug_0014_another_server_on_the_cluster_port
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Another_cluster_on_the_port_gets_its_own_backup_with_its_own_major_and_nothing_of_it_lands_in_the_first()
    {
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("bug14-data");
        await using var a = await PostgresCluster.StartAsync("bug14a", ct: Ct, major: 16);
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, a);
        settings["PgVault:DataDirectory"] = data.Path;
        settings["PgVault:Engine:PostgresBinDirectories:16"] = a.BinDirectory;
        await using var server = await ApiServer.StartAsync("bug14", settings, dataDirectory: data);

        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available, Bounded,
            "the first base backup of cluster A");
        var lsn = await Pg.InsertLsnAsync(a);
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= lsn.Value, Bounded,
            $"cluster A's WAL to reach {lsn}");
        var first = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!;
        Assert.EndsWith("-16", first.Id, StringComparison.Ordinal);

        // A goes away; B, another cluster of another major, takes its port.
        await a.StopAsync(Ct);
        await using var b = await PostgresCluster.StartAsync("bug14b", ct: Ct, major: 18, port: a.Port);
        var bSystem = await SystemIdentifierAsync(b);
        Assert.NotEqual(first.SystemIdentifier, bSystem);

        BackupRecord? second = null;
        await Wait.UntilAsync(async () => (second = await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.Id != first.Id, Bounded,
            "a new backup for cluster B");
        Assert.True(second!.Id.EndsWith("-18", StringComparison.Ordinal) && second.Version == "18",
            $"the backup of PostgreSQL 18 is {second.Id} (version {second.Version})");
        Assert.Equal(bSystem, second.SystemIdentifier);
        Assert.Contains(server.Logs.Lines, l => l.Contains($"started backup {second.Id}", StringComparison.Ordinal)
                                                && l.Contains($"the system identifier changed from {first.SystemIdentifier} to {bSystem}", StringComparison.Ordinal));
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available, Bounded,
            "the first base backup of cluster B");
        var bLsn = await Pg.InsertLsnAsync(b);
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= bLsn.Value, Bounded,
            $"cluster B's WAL to reach {bLsn}");

        // Every WAL segment each chain holds begins with its own cluster's system identifier (the long page header).
        var store = new LocalObjectStore(Path.Combine(data.Path, "repository"));
        foreach (var (backup, system) in new[] { (first, first.SystemIdentifier!), (second, bSystem) })
        {
            var chain = await new ChainRepository(store, clusterId, BackupId.Parse(backup.Id).ChainId).ScanAsync(Ct);
            var starts = chain!.Wal.Where(w => w.Offset == 0).ToList();
            Assert.NotEmpty(starts);
            foreach (var wal in starts)
            {
                var page = new byte[40];
                var stream = await ChainRepository.OpenWalAsync(store, wal, Ct);
                await using (stream)
                    await stream.ReadExactlyAsync(page, Ct);
                Assert.True(BinaryPrimitives.ReadUInt64LittleEndian(page.AsSpan(24)).ToString(CultureInfo.InvariantCulture) == system,
                    $"{wal.Key} of backup {backup.Id} holds WAL of another cluster");
            }
        }

        // A base backup for A's chain, on a connection that reaches B: refused before anything is read.
        var refused = await Assert.ThrowsAsync<PgVaultException>(() => BaseBackupProtocol.StartAsync(b.ConnectionString(), PostgresMajor.V18,
            "bug14", null, ManifestChecksum.CRC32C, new ExpectedCluster(first.SystemIdentifier!, $"backup '{first.Id}'"), Ct));
        Assert.Equal(ErrorCode.BaseBackupFailed, refused.Code);
        Assert.Contains($"its system identifier is {bSystem}, the backup's {first.SystemIdentifier}", refused.Message, StringComparison.Ordinal);
        var wrongMajor = await Assert.ThrowsAsync<PgVaultException>(() => BaseBackupProtocol.StartAsync(b.ConnectionString(), PostgresMajor.V16,
            "bug14", null, ManifestChecksum.CRC32C, new ExpectedCluster(bSystem, $"backup '{first.Id}'"), Ct));
        Assert.Contains($"backup '{first.Id}' is of PostgreSQL 16", wrongMajor.Message, StringComparison.Ordinal);
        Assert.Contains("the server runs PostgreSQL 18", wrongMajor.Message, StringComparison.Ordinal);
    }

    private static async Task<string> SystemIdentifierAsync(PostgresCluster pg) =>
        (await Pg.ScalarAsync<long>(pg, "SELECT system_identifier FROM pg_control_system()")).ToString(CultureInfo.InvariantCulture);
}

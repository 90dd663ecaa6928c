using System.Security.Cryptography;
using PgVault.Catalog;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// A restore from an encrypted filesystem location: the restored server's restore_command (wal-fetch) must read the
/// WAL through the location's keys, not the bare directory (which holds only ciphertext).
/// </summary>
[Trait("Category", "Postgres")]
public sealed class EncryptedFilesystemRestoreTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Restore_verify_from_an_encrypted_directory_replays_its_wal_and_gives_the_same_dump()
    {
        await using var pg = await PostgresCluster.StartAsync("encfs", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "1", "-q");
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("encfs-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:Clusters:0:BackupLocation"] = "sealed";
        settings["PgVault:Locations:sealed:Type"] = "filesystem";
        settings["PgVault:Locations:sealed:Path"] = Path.Combine(data.Path, "sealed-repository");
        settings["PgVault:Locations:sealed:Encryption:KeyId"] = "k1";
        settings["PgVault:Locations:sealed:Encryption:Keys:k1"] = "base64:" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

        string backupId;
        await using (var server = await ApiServer.StartAsync("encfs", settings, dataDirectory: data))
        {
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
                Bounded, "the encrypted backup to become AVAILABLE");
            // WAL written after the base backup: the restore has to fetch it through wal-fetch to reach this point.
            await Pg.PgbenchAsync(pg, "-c", "1", "-t", "200", "-n");
            var insert = await Pg.InsertLsnAsync(pg);
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= insert.Value, Bounded,
                $"the WAL to reach {insert}");
            backupId = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.Id;
        }

        var dumpA = await RestoreTests.DumpAllAsync(pg, pg.Port);
        settings["PgVault:Engine:Enabled"] = "false";
        settings["PgVault:DataDirectory"] = data.Path;
        var config = await S3FaultCycleTests.WriteConfigAsync(data, settings);
        using var target = new TempDirectory("encfs-restored");
        var (code, output) = await PgVaultProcess.RunAsync(
            ["restore", "--config", config, "--backup-id", backupId, "--to", target.Path, "--verify"],
            new Dictionary<string, string?>(), TimeSpan.FromMinutes(6));
        Assert.True(code == 0, output);
        Assert.DoesNotContain("--repository", await File.ReadAllTextAsync(Path.Combine(target.Path, "postgresql.auto.conf"), Ct), StringComparison.Ordinal);

        var dumpB = "";
        await RestoreTests.WithServerAsync(pg, target.Path, async port => dumpB = await RestoreTests.DumpAllAsync(pg, port));
        Assert.Equal(dumpA, dumpB);
    }
}

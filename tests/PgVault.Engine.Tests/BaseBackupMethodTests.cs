using System.Formats.Tar;
using System.Text.Json;
using Npgsql;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.BaseBackup;
using PgVault.Engine.Postgres;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// The ways of taking a base backup (<c>Engine:BaseBackupMethod</c>, <c>Engine:BaseBackupCompression</c>) each give a
/// backup that restores to the same data; and the native replication connection authenticates as libpq would.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class BaseBackupMethodTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("PgBasebackup", "Client")]
    [InlineData("Native", "Server")]
    public async Task Every_method_restores_the_same_dump(string method, string compression)
    {
        await using var pg = await PostgresCluster.StartAsync("method", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "2", "-q");
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("method-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        settings["PgVault:Engine:BaseBackupMethod"] = method;
        settings["PgVault:Engine:BaseBackupCompression"] = compression;
        string backupId;
        await using (var server = await ApiServer.StartAsync("method", settings, dataDirectory: data))
        {
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
                Bounded, "the first base backup");
            await Pg.PgbenchAsync(pg, "-c", "2", "-T", "3", "-n");
            var flush = await Pg.InsertLsnAsync(pg);
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= flush.Value, Bounded,
                $"the repository's WAL to reach {flush}");
            backupId = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.Id;
            var baseBackup = (await server.Catalog.ListBaseBackupsAsync(backupId, Ct)).Single(b => b.State == BaseBackupState.Complete);
            Assert.True(baseBackup.DatabaseBytes > 0);
        }

        settings["PgVault:Engine:Enabled"] = "false";
        var dumpA = await RestoreTests.DumpAllAsync(pg, pg.Port);
        using var target = new TempDirectory("method-restored");
        var (code, output) = await PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", target.Path, "--verify"], settings,
            TimeSpan.FromMinutes(5));
        Assert.True(code == 0, output);
        Assert.Contains("pg_amcheck --all found no corruption", output, StringComparison.Ordinal);
        var dumpB = "";
        await RestoreTests.WithServerAsync(pg, target.Path, async port => dumpB = await RestoreTests.DumpAllAsync(pg, port));
        Assert.Equal(dumpA, dumpB);

        // Restored as it was backed up, the copy passes pg_verifybackup: the manifest is in the data directory whether it
        // came inside the tar (PgVault compressing) or beside it (the server compressing).
        using var copy = new TempDirectory("method-copy");
        (code, output) = await PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", copy.Path], settings, TimeSpan.FromMinutes(5));
        Assert.True(code == 0, output);
        Assert.True(File.Exists(Path.Combine(copy.Path, "backup_manifest")), "the restored data directory has no backup_manifest");
        using (var chmod = System.Diagnostics.Process.Start("chmod", ["-R", "a+rX", copy.Path]))
            await chmod.WaitForExitAsync(Ct);
        (code, output) = await pg.RunPgRawAsync("pg_verifybackup", ["--no-parse-wal", copy.Path], Ct);
        Assert.True(code == 0, "pg_verifybackup failed: " + output);
        Assert.Contains("successfully verified", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("scram-sha-256")]
    [InlineData("md5")]
    [InlineData("password")]
    public async Task The_native_connection_authenticates_with_a_password_and_reads_a_whole_base_backup(string method)
    {
        await using var pg = await PostgresCluster.StartAsync("auth", ct: Ct);
        var encryption = method == "md5" ? "md5" : "scram-sha-256";
        await pg.ExecuteAsync($"SET password_encryption = '{encryption}'; CREATE ROLE backup_user LOGIN REPLICATION PASSWORD 'se''cret'", ct: Ct);
        var hba = Path.Combine(pg.DataDirectory, "pg_hba.conf");
        var lines = await File.ReadAllTextAsync(hba, Ct);
        await File.WriteAllTextAsync(hba, $"host replication backup_user 127.0.0.1/32 {method}\n" + lines, Ct);
        await pg.ExecuteAsync("SELECT pg_reload_conf()", ct: Ct);

        var connection = new NpgsqlConnectionStringBuilder(pg.ConnectionString()) { Username = "backup_user", Password = "se'cret" }.ToString();
        await using var backup = await BaseBackupProtocol.StartAsync(connection, "auth test", null, ManifestChecksum.CRC32C, Ct);
        Assert.True(backup.StartLsn.Value > 0);
        Assert.Equal(1u, backup.Timeline);

        // The archive with the manifest in place of its end is a tar that holds backup_label and backup_manifest.
        var tar = new MemoryStream();
        var archive = new RetailedTarStream(backup.Archive, async c => BaseBackupProtocol.TarTail(await backup.FinishAsync(c), DateTimeOffset.UtcNow));
        await archive.CopyToAsync(tar, Ct);
        Assert.True(backup.EndLsn >= backup.StartLsn);
        tar.Position = 0;
        var names = new List<string>();
        using (var reader = new TarReader(tar))
        {
            while (await reader.GetNextEntryAsync(cancellationToken: Ct) is { } entry)
            {
                names.Add(entry.Name);
                if (entry.Name == "backup_manifest")
                {
                    using var manifest = await JsonDocument.ParseAsync(entry.DataStream!, cancellationToken: Ct);
                    Assert.Equal(backup.EndLsn.ToString(), manifest.RootElement.GetProperty("WAL-Ranges")[0].GetProperty("End-LSN").GetString());
                }
            }
        }

        Assert.Contains("backup_label", names);
        Assert.Equal("backup_manifest", names[^1]);

        // A wrong password is refused with the server's message.
        var wrong = new NpgsqlConnectionStringBuilder(connection) { Password = "wrong" }.ToString();
        var error = await Assert.ThrowsAsync<PgVault.Errors.PgVaultException>(() => BaseBackupProtocol.StartAsync(wrong, "auth test", null, ManifestChecksum.CRC32C, Ct));
        Assert.Contains("backup_user", error.Message, StringComparison.Ordinal);
    }
}

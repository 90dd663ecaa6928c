using PgVault.Engine.Repository;
using PgVault.Engine.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests.Bugs;

/// <summary>
/// A restore of a cluster with an in-place tablespace (<c>allow_in_place_tablespaces</c>, <c>CREATE TABLESPACE …
/// LOCATION ''</c>: <c>pg_tblspc/&lt;oid&gt;</c> is a directory in the data directory, sent in the base backup's tar)
/// failed with "could not stat file pg_tblspc/…", even from a full base backup. Here: a full one and an incremental one
/// after tables moved in and out of the tablespace (<c>SET TABLESPACE</c>), each restored and compared with the source.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class Bug_0015_restore_of_an_in_place_tablespace
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Full_and_incremental_base_backups_of_a_cluster_with_an_in_place_tablespace_restore_to_the_source_state()
    {
        await using var pg = await PostgresCluster.StartAsync("tblspc", "allow_in_place_tablespaces = on\n", ct: Ct);
        await pg.ExecuteAsync("CREATE TABLESPACE ts LOCATION ''", ct: Ct);
        await pg.ExecuteAsync("""
            CREATE TABLE in_ts (id int PRIMARY KEY, pad text) TABLESPACE ts;
            INSERT INTO in_ts SELECT g, repeat('s', 100) FROM generate_series(1, 20000) g;
            CREATE TABLE moves_in (id int PRIMARY KEY, pad text);
            INSERT INTO moves_in SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
            """, ct: Ct);
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("tblspc-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        settings["PgVault:GroupAccess"] = "true";
        if (TestEnvironment.IsRoot)
            await PgVault.Hosting.StateDirectory.ShareWithGroupAsync(data.Path, "postgres", Ct);
        var repository = new Lazy<LocalObjectStore>(() => new LocalObjectStore(Path.Combine(data.Path, "repository")));

        var full = await IncrementalBackupTests.BackupAndCheckAsync(pg, settings, repository, clusterId, "full");
        Assert.Equal(BaseBackupType.Full, full.Type);

        // SET TABLESPACE both ways (new relfilenodes in the other tablespace, the old files gone), and writes in place.
        await pg.ExecuteAsync("""
            ALTER TABLE moves_in SET TABLESPACE ts;
            ALTER TABLE in_ts SET TABLESPACE pg_default;
            CREATE TABLE new_in_ts TABLESPACE ts AS SELECT g AS id FROM generate_series(1, 5000) g;
            UPDATE moves_in SET pad = 'moved' WHERE id <= 100;
            """, ct: Ct);
        var incr = await IncrementalBackupTests.BackupAndCheckAsync(pg, settings, repository, clusterId, "incr");
        Assert.Equal(BaseBackupType.Incr, incr.Type);
        Assert.Equal(new[] { full.Label }, incr.References);
    }
}

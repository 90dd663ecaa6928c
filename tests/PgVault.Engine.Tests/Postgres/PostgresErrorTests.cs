using Npgsql;
using PgVault.Configuration;
using PgVault.Engine.Postgres;
using PgVault.Errors;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests.Postgres;

/// <summary>
/// Server errors reach PgVault with their SQLSTATE, and PgVault decides on the code: a real server refusing what it was
/// asked, over PgVault's own replication connection.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class PostgresErrorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("level=99", PostgresErrors.SyntaxError)]           // out of zstd's range: an invalid compression specification
    [InlineData("lebel=3", PostgresErrors.SyntaxError)]            // an option the server does not know
    public async Task Server_compression_the_server_refuses_is_classified_by_its_sqlstate(string detail, string sqlState)
    {
        await using var pg = await PostgresCluster.StartAsync("errors-compress", ct: Ct);

        var error = await Assert.ThrowsAsync<PgVaultException>(() =>
            BaseBackupProtocol.StartAsync(pg.ConnectionString(), PostgresMajor.V15, "error test", detail, ManifestChecksum.CRC32C, Ct));

        Assert.Equal(ErrorCode.BaseBackupFailed, error.Code);
        Assert.Equal(sqlState, PostgresErrors.SqlState(error));
        Assert.True(PostgresErrors.ServerCannotCompress(error), error.Message);
        // The same backup without server compression goes through: the retry the classification allows.
        await using var backup = await BaseBackupProtocol.StartAsync(pg.ConnectionString(), PostgresMajor.V15, "error test", null, ManifestChecksum.CRC32C, Ct);
        Assert.True(backup.StartLsn.Value > 0);
    }

    [Fact]
    public async Task A_refused_login_is_not_a_reason_to_back_up_without_server_compression()
    {
        await using var pg = await PostgresCluster.StartAsync("errors-auth", ct: Ct);
        await pg.ExecuteAsync("SET password_encryption = 'scram-sha-256'; CREATE ROLE backup_user LOGIN REPLICATION PASSWORD 'secret'", ct: Ct);
        var hba = Path.Combine(pg.DataDirectory, "pg_hba.conf");
        await File.WriteAllTextAsync(hba, "host replication backup_user 127.0.0.1/32 scram-sha-256\n" + await File.ReadAllTextAsync(hba, Ct), Ct);
        await pg.ExecuteAsync("SELECT pg_reload_conf()", ct: Ct);
        var wrong = new NpgsqlConnectionStringBuilder(pg.ConnectionString()) { Username = "backup_user", Password = "wrong" }.ToString();

        var error = await Assert.ThrowsAsync<PgVaultException>(() =>
            BaseBackupProtocol.StartAsync(wrong, PostgresMajor.V15, "error test", "level=3", ManifestChecksum.CRC32C, Ct));

        Assert.Equal("28P01", PostgresErrors.SqlState(error)); // invalid_password
        Assert.False(PostgresErrors.ServerCannotCompress(error));
    }

    [Fact]
    public async Task Errors_on_sql_connections_keep_the_servers_sqlstate()
    {
        await using var pg = await PostgresCluster.StartAsync("errors-sql", ct: Ct);
        await pg.ExecuteAsync("CREATE ROLE plain_user LOGIN", ct: Ct);
        var plain = new NpgsqlConnectionStringBuilder(pg.ConnectionString()) { Username = "plain_user" }.ToString();

        // pg_read_binary_file needs superuser or pg_read_server_files.
        var error = await Assert.ThrowsAsync<PostgresException>(() => new PostgresServer(plain).ReadWalDirectoryFileAsync("00000002.history", Ct));

        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, PostgresErrors.SqlState(error));
        Assert.False(PostgresErrors.ServerCannotCompress(error));
    }

    [Fact]
    public void The_end_of_a_timeline_is_told_apart_from_a_server_error()
    {
        // Npgsql reports the server's CopyDone at a timeline's end as a client-side failure without a SQLSTATE.
        Assert.True(PostgresErrors.IsEndOfTimeline(new NpgsqlException("Received backend message CopyDone while expecting CopyData")));
        Assert.False(PostgresErrors.IsEndOfTimeline(new PostgresException("CopyDone", "ERROR", "ERROR", "XX000")));
        Assert.False(PostgresErrors.IsEndOfTimeline(new NpgsqlException("Exception while reading from stream")));
        Assert.Null(PostgresErrors.SqlState(new NpgsqlException("Exception while reading from stream")));
    }
}

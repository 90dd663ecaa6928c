using System.Text;
using Npgsql;
using Npgsql.Replication;
using PgVault.Errors;
using PgVault.Postgres;

namespace PgVault.Engine.Postgres;

/// <summary>
/// What the WAL streamer asks of a server over the replication protocol (Npgsql's
/// <see cref="PhysicalReplicationConnection"/>) beyond the stream itself; the SQL it needs is <see cref="PostgresServer"/>'s.
/// </summary>
public static class WalReplication
{
    /// <summary>Npgsql takes a normal connection string; replication mode is set by the connection class.</summary>
    public static string ConnectionString(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        b.ApplicationName ??= "pgvault-wal";
        return b.ToString();
    }

    /// <summary>
    /// The major of the server this replication connection reached, asked on the connection itself (<c>SHOW
    /// server_version_num</c>). Not <c>PostgreSqlVersion</c>: Npgsql takes that from the first server its data source
    /// (one per connection string, for the life of the process) ever reached, so after the name or port is re-pointed to
    /// another server (a pg_upgrade'd cluster, another cluster) it still answers the old major.
    /// </summary>
    public static async Task<int> ServerMajorAsync(PhysicalReplicationConnection conn, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(conn);
        var text = await conn.Show("server_version_num", ct).ConfigureAwait(false);
        return int.Parse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture) / 10000;
    }

    /// <summary>
    /// A timeline history file from the server. Npgsql's TIMELINE_HISTORY fails on PostgreSQL 15 (it reads the file's
    /// content column as bytea where the server sends text); then the file is read with <c>pg_read_binary_file</c>,
    /// which needs superuser or the <c>pg_read_server_files</c> role.
    /// </summary>
    public static async Task<string> FetchHistoryAsync(PhysicalReplicationConnection conn, PostgresServer server, string clusterId,
        uint timeline, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(conn);
        ArgumentNullException.ThrowIfNull(server);
        try
        {
            return Encoding.UTF8.GetString((await conn.TimelineHistory(timeline, ct).ConfigureAwait(false)).Content);
        }
        catch (InvalidCastException)
        {
            var name = WalSegment.HistoryName(timeline);
            try
            {
                return Encoding.UTF8.GetString(await server.ReadWalDirectoryFileAsync(name, ct).ConfigureAwait(false));
            }
            catch (PostgresException ex)
            {
                throw new PgVaultException(ErrorCode.WalStreamFailed,
                    $"unable to read timeline history file {name} from cluster '{clusterId}': {ex.MessageText}",
                    "grant the role in the cluster's ConnectionString pg_read_server_files (GRANT pg_read_server_files TO ...)", ex);
            }
        }
    }
}

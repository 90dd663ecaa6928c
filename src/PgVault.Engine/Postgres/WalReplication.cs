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

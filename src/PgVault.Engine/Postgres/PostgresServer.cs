using System.Globalization;
using Npgsql;
using PgVault.Postgres;

namespace PgVault.Engine.Postgres;

/// <summary>
/// Every SQL query PgVault sends to a PostgreSQL server it backs up or restores: the one place that knows which catalog
/// views and functions PgVault reads, so a PostgreSQL major that changes one of them changes this class only.
/// </summary>
/// <remarks>
/// Each call opens its own connection and closes it again. Connections are not pooled: a pooled connection may be to a
/// server that has restarted since (an in-place restore, a promotion), and these queries are rare. Failures surface as
/// Npgsql's exceptions: <see cref="PostgresException"/> (the server's error, with its <see cref="PostgresException.SqlState"/>)
/// or another <see cref="NpgsqlException"/> (no connection).
/// </remarks>
public sealed class PostgresServer
{
    private readonly string _connectionString;

    /// <param name="connectionString">An Npgsql connection string (a cluster's <c>ConnectionString</c>).</param>
    public PostgresServer(string connectionString) =>
        _connectionString = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ToString();

    /// <summary>The redo point of the server's last checkpoint (or restartpoint).</summary>
    public async Task<Lsn> RedoPointAsync(CancellationToken ct) =>
        Lsn.Parse((string)(await ScalarAsync("SELECT redo_lsn::text FROM pg_control_checkpoint()", null, ct).ConfigureAwait(false))!);

    /// <summary>
    /// The next transaction id (epoch in the high half) of the server's last checkpoint, or null when the server gives
    /// something else.
    /// </summary>
    public async Task<ulong?> NextXidAsync(CancellationToken ct) =>
        ParseNextXid(await ScalarAsync("SELECT next_xid FROM pg_control_checkpoint()", null, ct).ConfigureAwait(false) as string);

    /// <summary><c>pg_control_checkpoint().next_xid</c> ("epoch:xid") as one 64-bit number; null if it is not that.</summary>
    internal static ulong? ParseNextXid(string? text) =>
        text?.Split(':') is [var epoch, var xid]
        && uint.TryParse(epoch, NumberStyles.None, CultureInfo.InvariantCulture, out var e)
        && uint.TryParse(xid, NumberStyles.None, CultureInfo.InvariantCulture, out var x)
            ? ((ulong)e << 32) | x
            : null;

    /// <summary>The size of all the server's databases together, in bytes.</summary>
    public async Task<long> DatabaseSizeBytesAsync(CancellationToken ct) =>
        await ScalarAsync("SELECT sum(pg_database_size(oid))::bigint FROM pg_database", null, ct).ConfigureAwait(false) is long bytes
            ? bytes
            : 0;

    /// <summary>
    /// A file of the server's <c>pg_wal</c> directory (a timeline history file), read with <c>pg_read_binary_file</c>:
    /// needs superuser or the <c>pg_read_server_files</c> role.
    /// </summary>
    public async Task<byte[]> ReadWalDirectoryFileAsync(string fileName, CancellationToken ct) =>
        (byte[])(await ScalarAsync("SELECT pg_read_binary_file('pg_wal/' || @name)", ("name", fileName), ct).ConfigureAwait(false))!;

    /// <summary>
    /// Reports <c>pg_stat_progress_basebackup.backup_streamed</c> of the base backup served by the walsender
    /// <paramref name="walsenderPid"/> every <paramref name="interval"/>, on one connection, until cancelled.
    /// </summary>
    public async Task PollBaseBackupProgressAsync(int walsenderPid, TimeSpan interval, TimeProvider time, Action<long> streamedBytes,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(streamedBytes);
        var conn = new NpgsqlConnection(_connectionString);
        await using (conn.ConfigureAwait(false))
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            var cmd = new NpgsqlCommand("SELECT backup_streamed FROM pg_stat_progress_basebackup WHERE pid = @pid", conn);
            await using (cmd.ConfigureAwait(false))
            {
                cmd.Parameters.AddWithValue("pid", walsenderPid);
                while (true)
                {
                    await Task.Delay(interval, time, ct).ConfigureAwait(false);
                    if (await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is long streamed)
                        streamedBytes(streamed);
                }
            }
        }
    }

    /// <summary>Whether a walsender is reading the replication slot <paramref name="slotName"/> (false when there is no such slot).</summary>
    public async Task<bool> IsReplicationSlotActiveAsync(string slotName, CancellationToken ct) =>
        await ScalarAsync("SELECT active FROM pg_replication_slots WHERE slot_name = @slot", ("slot", slotName), ct).ConfigureAwait(false) is true;

    /// <summary>
    /// Ends the walsender reading the replication slot (another pgvault instance that lost the cluster, paused or cut
    /// off, whose connection the server has not timed out yet); true when there was one. A role may end the backends of
    /// its own role (or needs <c>pg_signal_backend</c>).
    /// </summary>
    public async Task<bool> TerminateSlotReaderAsync(string slotName, CancellationToken ct) =>
        await ScalarAsync("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = @slot AND active_pid IS NOT NULL",
            ("slot", slotName), ct).ConfigureAwait(false) is true;

    /// <summary>
    /// The replication slot's <c>wal_status</c> (<c>reserved</c>, <c>extended</c>, <c>unreserved</c>, <c>lost</c>), or
    /// null when there is no such slot.
    /// </summary>
    public async Task<string?> ReplicationSlotWalStatusAsync(string slotName, CancellationToken ct) =>
        await ScalarAsync("SELECT wal_status FROM pg_replication_slots WHERE slot_name = @slot", ("slot", slotName), ct).ConfigureAwait(false) as string;

    /// <summary>
    /// Where a server in recovery stands: whether it still recovers, how far it has replayed, the last transaction
    /// replayed, and, once it is out of recovery, its WAL position and timeline.
    /// </summary>
    public async Task<RecoveryStatus> RecoveryStatusAsync(CancellationToken ct)
    {
        var conn = new NpgsqlConnection(_connectionString);
        await using (conn.ConfigureAwait(false))
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            bool inRecovery;
            Lsn replayed;
            DateTimeOffset? last;
            var cmd = new NpgsqlCommand(
                "SELECT pg_is_in_recovery(), coalesce(pg_last_wal_replay_lsn(), '0/0')::text, pg_last_xact_replay_timestamp()", conn);
            await using (cmd.ConfigureAwait(false))
            {
                var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (r.ConfigureAwait(false))
                {
                    await r.ReadAsync(ct).ConfigureAwait(false);
                    inRecovery = r.GetBoolean(0);
                    replayed = Lsn.Parse(r.GetString(1));
                    last = await r.IsDBNullAsync(2, ct).ConfigureAwait(false) ? null
                        : new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(2), DateTimeKind.Utc));
                }
            }

            if (inRecovery)
                return new RecoveryStatus(true, replayed, last, null, null);

            var done = new NpgsqlCommand("SELECT pg_current_wal_lsn()::text, (SELECT timeline_id FROM pg_control_checkpoint())", conn);
            await using (done.ConfigureAwait(false))
            {
                var d = await done.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (d.ConfigureAwait(false))
                {
                    await d.ReadAsync(ct).ConfigureAwait(false);
                    return new RecoveryStatus(false, replayed, last, Lsn.Parse(d.GetString(0)), d.GetInt32(1));
                }
            }
        }
    }

    /// <summary>The databases that accept connections, by name.</summary>
    public async Task<IReadOnlyList<string>> ConnectableDatabasesAsync(CancellationToken ct)
    {
        var databases = new List<string>();
        var conn = new NpgsqlConnection(_connectionString);
        await using (conn.ConfigureAwait(false))
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            var cmd = new NpgsqlCommand("SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname", conn);
            await using (cmd.ConfigureAwait(false))
            {
                var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (r.ConfigureAwait(false))
                {
                    while (await r.ReadAsync(ct).ConfigureAwait(false))
                        databases.Add(r.GetString(0));
                }
            }
        }

        return databases;
    }

    /// <summary>Creates the <c>amcheck</c> extension in <paramref name="database"/> unless it is there; true when it was added.</summary>
    public async Task<bool> AddAmcheckAsync(string database, CancellationToken ct)
    {
        var conn = new NpgsqlConnection(ForDatabase(database));
        await using (conn.ConfigureAwait(false))
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            var check = new NpgsqlCommand("SELECT count(*) FROM pg_extension WHERE extname = 'amcheck'", conn);
            await using (check.ConfigureAwait(false))
            {
                if ((long)(await check.ExecuteScalarAsync(ct).ConfigureAwait(false))! != 0)
                    return false;
            }

            var create = new NpgsqlCommand("CREATE EXTENSION amcheck", conn);
            await using (create.ConfigureAwait(false))
                await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return true;
        }
    }

    /// <summary>Drops the <c>amcheck</c> extension from <paramref name="database"/> (one <see cref="AddAmcheckAsync"/> added).</summary>
    public async Task DropAmcheckAsync(string database, CancellationToken ct)
    {
        var conn = new NpgsqlConnection(ForDatabase(database));
        await using (conn.ConfigureAwait(false))
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            var drop = new NpgsqlCommand("DROP EXTENSION amcheck", conn);
            await using (drop.ConfigureAwait(false))
                await drop.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// What <c>pg_amcheck --all</c> checks in <paramref name="database"/>, through amcheck's SQL functions
    /// (<see cref="PostgresMajor.AmcheckIndexSql"/>, <see cref="PostgresMajor.AmcheckHeapSql"/>), for binaries without
    /// pg_amcheck; the extension must be there (<see cref="AddAmcheckAsync"/>). Returns the problems found, none when empty.
    /// </summary>
    public async Task<IReadOnlyList<string>> AmcheckProblemsAsync(string database, PostgresMajor major, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(major);
        var problems = new List<string>();
        var conn = new NpgsqlConnection(ForDatabase(database));
        await using (conn.ConfigureAwait(false))
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            try
            {
                var indexes = new NpgsqlCommand(major.AmcheckIndexSql, conn) { CommandTimeout = 0 };
                await using (indexes.ConfigureAwait(false))
                {
                    var r = await indexes.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    await using (r.ConfigureAwait(false))
                    {
                        while (await r.ReadAsync(ct).ConfigureAwait(false))
                        {
                            // one row per index checked
                        }
                    }
                }
            }
            catch (PostgresException ex)
            {
                problems.Add(ex.MessageText);
            }

            var heap = new NpgsqlCommand(major.AmcheckHeapSql, conn) { CommandTimeout = 0 };
            await using (heap.ConfigureAwait(false))
            {
                var rows = await heap.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (rows.ConfigureAwait(false))
                {
                    while (await rows.ReadAsync(ct).ConfigureAwait(false))
                        problems.Add(rows.GetString(0));
                }
            }
        }

        return problems;
    }

    private string ForDatabase(string database) => new NpgsqlConnectionStringBuilder(_connectionString) { Database = database }.ToString();

    private async Task<object?> ScalarAsync(string sql, (string Name, object Value)? parameter, CancellationToken ct)
    {
        var conn = new NpgsqlConnection(_connectionString);
        await using (conn.ConfigureAwait(false))
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            var cmd = new NpgsqlCommand(sql, conn);
            await using (cmd.ConfigureAwait(false))
            {
                if (parameter is var (name, value))
                    cmd.Parameters.AddWithValue(name, value);
                return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>
/// A recovering server's state (<see cref="PostgresServer.RecoveryStatusAsync"/>): <see cref="Position"/> and
/// <see cref="Timeline"/> are set once it is out of recovery.
/// </summary>
public sealed record RecoveryStatus(bool InRecovery, Lsn Replayed, DateTimeOffset? LastTransaction, Lsn? Position, int? Timeline);

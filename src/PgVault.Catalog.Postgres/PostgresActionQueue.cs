using Npgsql;
using NpgsqlTypes;
using PgVault.Errors;
using PgVault.Fleet;

namespace PgVault.Catalog.Postgres;

/// <summary>
/// The fleet's action queue in the PostgreSQL catalog (table <c>fleet_actions</c> of migration 0008). An enqueue
/// notifies channel <see cref="Channel"/>; the lease holders listen on it on one connection of their own and poll as a
/// fallback. Claims lock the pending rows with <c>FOR UPDATE SKIP LOCKED</c> and check the lease (owner, epoch, expiry)
/// in the same statement; an abandon is a conditional update of the same row, so a claim and an abandon never both win.
/// </summary>
public sealed class PostgresActionQueue : IActionQueue, IAsyncDisposable
{
    /// <summary>The channel an enqueue notifies.</summary>
    public const string Channel = "pgvault_fleet_actions";

    private readonly NpgsqlDataSource _dataSource;
    private NpgsqlConnection? _listener;

    public PostgresActionQueue(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { ApplicationName = "pgvault-fleet-actions", MaxPoolSize = 6, KeepAlive = 10 };
        _dataSource = NpgsqlDataSource.Create(builder);
    }

    private ValueTask<NpgsqlConnection> OpenAsync(CancellationToken ct) =>
        CatalogConnections.OpenAsync(_dataSource, " for the fleet's action queue", ct);

    public async Task<Guid> EnqueueAsync(string clusterId, string kind, string payload, string origin, TimeSpan claimWithin, CancellationToken ct)
    {
        var id = Guid.NewGuid();
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using var batch = new NpgsqlBatch(conn);
        var insert = new NpgsqlBatchCommand(
            "INSERT INTO fleet_actions (id, cluster_id, kind, payload, origin, state, created_at, claim_by) " +
            "VALUES ($1, $2, $3, $4, $5, 'pending', clock_timestamp(), clock_timestamp() + $6)");
        insert.Parameters.Add(new NpgsqlParameter { Value = id });
        insert.Parameters.Add(new NpgsqlParameter { Value = clusterId });
        insert.Parameters.Add(new NpgsqlParameter { Value = kind });
        insert.Parameters.Add(new NpgsqlParameter { Value = payload });
        insert.Parameters.Add(new NpgsqlParameter { Value = origin });
        insert.Parameters.Add(new NpgsqlParameter { Value = claimWithin, NpgsqlDbType = NpgsqlDbType.Interval });
        batch.BatchCommands.Add(insert);
        var notify = new NpgsqlBatchCommand($"SELECT pg_notify('{Channel}', $1)");
        notify.Parameters.Add(new NpgsqlParameter { Value = clusterId });
        batch.BatchCommands.Add(notify);
        // One implicit transaction: the notification is sent when the row is visible.
        await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return id;
    }

    public async Task<IReadOnlyList<QueuedAction>> ClaimAsync(string instance, IReadOnlyDictionary<string, long> held, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(held);
        if (held.Count == 0)
            return [];
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        // Rows locked by a concurrent claim are skipped, and a row locked here is re-checked against its latest version
        // (still pending) before it is updated: each action goes to one claim, never to an abandoned or late one.
        await using var cmd = new NpgsqlCommand(
            "WITH picked AS (SELECT a.id, l.epoch FROM fleet_actions a " +
            "  JOIN unnest($2::text[], $3::bigint[]) AS h(cluster_id, epoch) ON h.cluster_id = a.cluster_id " +
            "  JOIN fleet_leases l ON l.cluster_id = a.cluster_id AND l.owner = $1 AND l.epoch = h.epoch AND l.expires_at > clock_timestamp() " +
            "  WHERE a.state = 'pending' AND a.claim_by > clock_timestamp() ORDER BY a.created_at FOR UPDATE OF a SKIP LOCKED) " +
            "UPDATE fleet_actions a SET state = 'claimed', claimed_by = $1, epoch = picked.epoch, claimed_at = clock_timestamp() FROM picked " +
            "WHERE a.id = picked.id AND a.state = 'pending' RETURNING a.id, a.cluster_id, a.kind, a.payload, a.origin, a.epoch, a.created_at", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = instance });
        var pairs = held.ToArray();
        cmd.Parameters.Add(new NpgsqlParameter { Value = pairs.Select(p => p.Key).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = pairs.Select(p => p.Value).ToArray() });
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var claimed = new List<(QueuedAction Action, DateTime CreatedAt)>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            claimed.Add((new QueuedAction(reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.GetInt64(5)), reader.GetDateTime(6)));
        }

        return claimed.OrderBy(c => c.CreatedAt).Select(c => c.Action).ToList();
    }

    public async Task<bool> CompleteAsync(Guid id, string instance, string outcome, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "UPDATE fleet_actions SET state = 'done', outcome = $3, finished_at = clock_timestamp() WHERE id = $1 AND claimed_by = $2 AND state = 'claimed'",
            conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = instance });
        cmd.Parameters.Add(new NpgsqlParameter { Value = outcome });
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
    }

    public async Task<QueuedActionStatus?> GetAsync(Guid id, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT state, claimed_by, outcome FROM fleet_actions WHERE id = $1", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            return null;
        var state = reader.GetString(0) switch
        {
            "pending" => QueuedActionState.Pending,
            "claimed" => QueuedActionState.Claimed,
            "done" => QueuedActionState.Done,
            _ => QueuedActionState.Abandoned,
        };
        return new QueuedActionStatus(id, state, await reader.IsDBNullAsync(1, ct).ConfigureAwait(false) ? null : reader.GetString(1),
            await reader.IsDBNullAsync(2, ct).ConfigureAwait(false) ? null : reader.GetString(2));
    }

    public async Task<bool> AbandonAsync(Guid id, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "UPDATE fleet_actions SET state = 'abandoned', finished_at = clock_timestamp() WHERE id = $1 AND state = 'pending'", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
    }

    public async Task WaitForEnqueuedAsync(TimeSpan max, CancellationToken ct)
    {
        try
        {
            if (_listener is null)
            {
                var conn = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
                try
                {
                    await using var listen = new NpgsqlCommand($"LISTEN {Channel}", conn);
                    await listen.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
                catch
                {
                    await conn.DisposeAsync().ConfigureAwait(false);
                    throw;
                }

                _listener = conn;
                return; // claim once now: what was enqueued before LISTEN sends no notification
            }

            await _listener.WaitAsync(max, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested && ex is NpgsqlException or IOException or TimeoutException or InvalidOperationException)
        {
            // The catalog out of reach: poll instead, and listen again next time.
            if (_listener is { } broken)
            {
                _listener = null;
                await broken.DisposeAsync().ConfigureAwait(false);
            }

            await Task.Delay(max, ct).ConfigureAwait(false);
        }
    }

    public async Task<int> PruneAsync(TimeSpan olderThan, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "DELETE FROM fleet_actions WHERE created_at < clock_timestamp() - $1 AND (state IN ('done', 'abandoned') OR claim_by < clock_timestamp() - $1)",
            conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = olderThan, NpgsqlDbType = NpgsqlDbType.Interval });
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_listener is { } listener)
        {
            _listener = null;
            await listener.DisposeAsync().ConfigureAwait(false);
        }

        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }
}

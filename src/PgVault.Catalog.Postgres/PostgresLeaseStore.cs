using Npgsql;
using NpgsqlTypes;
using PgVault.Errors;
using PgVault.Fleet;

namespace PgVault.Catalog.Postgres;

/// <summary>
/// The fleet's membership and leases in the PostgreSQL catalog (tables of migration 0007). Its own small connection
/// pool, so a busy API never delays a lease renewal. Every time is the catalog server's <c>clock_timestamp()</c>.
/// </summary>
public sealed class PostgresLeaseStore : ILeaseStore, IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;

    public PostgresLeaseStore(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { ApplicationName = "pgvault-fleet", MaxPoolSize = 4 };
        _dataSource = NpgsqlDataSource.Create(builder);
    }

    private ValueTask<NpgsqlConnection> OpenAsync(CancellationToken ct) =>
        CatalogConnections.OpenAsync(_dataSource, " for the fleet's leases", ct);

    private const string InstanceColumns = "name, host, pid, started_at, clock_timestamp() - heartbeat_at";

    public async Task<IReadOnlyList<FleetInstance>> HeartbeatAsync(FleetInstance instance, TimeSpan ttl, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(instance);
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using var batch = new NpgsqlBatch(conn);
        var upsert = new NpgsqlBatchCommand(
            "INSERT INTO fleet_instances (name, host, pid, started_at, heartbeat_at) VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp()) " +
            "ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, heartbeat_at = clock_timestamp()");
        upsert.Parameters.Add(new NpgsqlParameter { Value = instance.Name });
        upsert.Parameters.Add(new NpgsqlParameter { Value = instance.Host });
        upsert.Parameters.Add(new NpgsqlParameter { Value = instance.ProcessId });
        batch.BatchCommands.Add(upsert);
        var prune = new NpgsqlBatchCommand("DELETE FROM fleet_instances WHERE heartbeat_at < clock_timestamp() - $1 * 10");
        prune.Parameters.Add(new NpgsqlParameter { Value = ttl, NpgsqlDbType = NpgsqlDbType.Interval });
        batch.BatchCommands.Add(prune);
        var live = new NpgsqlBatchCommand($"SELECT {InstanceColumns} FROM fleet_instances WHERE heartbeat_at > clock_timestamp() - $1 ORDER BY name");
        live.Parameters.Add(new NpgsqlParameter { Value = ttl, NpgsqlDbType = NpgsqlDbType.Interval });
        batch.BatchCommands.Add(live);
        await using var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await ReadInstancesAsync(reader, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<FleetInstance>> ListInstancesAsync(CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"SELECT {InstanceColumns} FROM fleet_instances ORDER BY name", conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await ReadInstancesAsync(reader, ct).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<FleetInstance>> ReadInstancesAsync(NpgsqlDataReader reader, CancellationToken ct)
    {
        var list = new List<FleetInstance>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(new FleetInstance(reader.GetString(0), reader.GetString(1), reader.GetInt32(2),
                await reader.GetFieldValueAsync<DateTimeOffset>(3, ct).ConfigureAwait(false),
                await reader.GetFieldValueAsync<TimeSpan>(4, ct).ConfigureAwait(false)));
        }

        return list;
    }

    public async Task LeaveAsync(string instance, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("DELETE FROM fleet_instances WHERE name = $1", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = instance });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private const string LeaseColumns = "cluster_id, owner, epoch, expires_at - clock_timestamp()";

    public async Task<IReadOnlyList<ClusterLease>> ListLeasesAsync(CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"SELECT {LeaseColumns} FROM fleet_leases ORDER BY cluster_id", conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<ClusterLease>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
            list.Add(await ReadLeaseAsync(reader, ct).ConfigureAwait(false));
        return list;
    }

    public async Task<ClusterLease?> GetLeaseAsync(string clusterId, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"SELECT {LeaseColumns} FROM fleet_leases WHERE cluster_id = $1", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = clusterId });
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? await ReadLeaseAsync(reader, ct).ConfigureAwait(false) : null;
    }

    private static async Task<ClusterLease> ReadLeaseAsync(NpgsqlDataReader reader, CancellationToken ct) =>
        new(reader.GetString(0), await reader.IsDBNullAsync(1, ct).ConfigureAwait(false) ? null : reader.GetString(1), reader.GetInt64(2),
            await reader.GetFieldValueAsync<TimeSpan>(3, ct).ConfigureAwait(false));

    public async Task<long?> TryAcquireAsync(string clusterId, string instance, TimeSpan ttl, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        // Concurrent acquisitions of one row serialise on its lock; the second sees the first's expires_at and takes nothing.
        await using var cmd = new NpgsqlCommand(
            "INSERT INTO fleet_leases AS l (cluster_id, owner, epoch, expires_at) VALUES ($1, $2, 1, clock_timestamp() + $3) " +
            "ON CONFLICT (cluster_id) DO UPDATE SET owner = excluded.owner, epoch = l.epoch + 1, expires_at = excluded.expires_at " +
            "WHERE l.owner IS NULL OR l.expires_at <= clock_timestamp() RETURNING epoch", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = clusterId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = instance });
        cmd.Parameters.Add(new NpgsqlParameter { Value = ttl, NpgsqlDbType = NpgsqlDbType.Interval });
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is long epoch ? epoch : null;
    }

    public async Task<IReadOnlySet<string>> RenewAsync(string instance, IReadOnlyDictionary<string, long> held, TimeSpan ttl, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(held);
        var renewed = new HashSet<string>(StringComparer.Ordinal);
        if (held.Count == 0)
            return renewed;
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "UPDATE fleet_leases AS l SET expires_at = clock_timestamp() + $1 FROM unnest($2::text[], $3::bigint[]) AS h(cluster_id, epoch) " +
            "WHERE l.cluster_id = h.cluster_id AND l.epoch = h.epoch AND l.owner = $4 AND l.expires_at > clock_timestamp() RETURNING l.cluster_id", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = ttl, NpgsqlDbType = NpgsqlDbType.Interval });
        var pairs = held.ToArray();
        cmd.Parameters.Add(new NpgsqlParameter { Value = pairs.Select(p => p.Key).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = pairs.Select(p => p.Value).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = instance });
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
            renewed.Add(reader.GetString(0));
        return renewed;
    }

    public async Task ReleaseAsync(string clusterId, string instance, long epoch, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "UPDATE fleet_leases SET owner = NULL, expires_at = clock_timestamp() WHERE cluster_id = $1 AND owner = $2 AND epoch = $3", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = clusterId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = instance });
        cmd.Parameters.Add(new NpgsqlParameter { Value = epoch });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}

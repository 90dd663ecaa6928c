using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Text;
using PgVault.Errors;

namespace PgVault.Catalog.Sql;

/// <summary>
/// The <see cref="ICatalog"/> queries shared by the SQL catalogs. SQLite and PostgreSQL accept the same statements for
/// everything but the schema (upsert with <c>ON CONFLICT</c>, <c>LIMIT/OFFSET</c>, <c>@name</c> parameters), so each
/// provider supplies connections and migrations only. Times are stored as microseconds since the Unix epoch (UTC),
/// LSNs as 64-bit integers.
/// </summary>
public abstract class AdoCatalog : ICatalog, IBackupChangeFeed
{
    private const string BackupColumns =
        "id, cluster_id, created_us, state, version, is_active, earliest_recovery_target_us, size_bytes, location, " +
        "system_identifier, timeline, start_lsn, end_lsn";

    private const string ClusterColumns = "id, display_name, created_us, state, postgres_version, backup_location";

    /// <summary>How long a deleted backup's id stays in <c>backup_deletions</c> for the change feed's readers.</summary>
    public static readonly TimeSpan DeletionRetention = TimeSpan.FromDays(1);

    private long _localBackupWrites;

    /// <inheritdoc />
    public long LocalBackupWrites => Interlocked.Read(ref _localBackupWrites);

    public abstract string Provider { get; }

    /// <summary>Opens a connection ready for use.</summary>
    protected abstract ValueTask<DbConnection> OpenAsync(CancellationToken ct);

    public abstract Task MigrateAsync(CancellationToken ct);

    public async Task PingAsync(CancellationToken ct)
    {
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            await using var cmd = Command(conn, "SELECT 1");
            await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
        }
    }

    public async Task UpsertClusterAsync(ClusterRecord cluster, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            await using var cmd = Command(conn,
                $"INSERT INTO clusters ({ClusterColumns}) VALUES (@id, @display_name, @created_us, @state, @postgres_version, @backup_location) " +
                "ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, state = excluded.state, " +
                "postgres_version = coalesce(excluded.postgres_version, clusters.postgres_version), backup_location = excluded.backup_location");
            Add(cmd, "id", cluster.Id);
            Add(cmd, "display_name", cluster.DisplayName);
            Add(cmd, "created_us", ToMicros(cluster.CreatedDate));
            Add(cmd, "state", StateName(cluster.State));
            Add(cmd, "postgres_version", cluster.PostgresVersion);
            Add(cmd, "backup_location", cluster.BackupLocation);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    public async Task<ClusterRecord?> GetClusterAsync(string clusterId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(clusterId);
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            await using var cmd = Command(conn, $"SELECT {ClusterColumns} FROM clusters WHERE id = @id");
            Add(cmd, "id", clusterId);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadCluster(reader) : null;
        }
    }

    public Task<Page<ClusterRecord>> ListClustersAsync(ClusterScope scope, PageRequest page, string? nameContains, CancellationToken ct) =>
        ListAsync("clusters", ClusterColumns, "id", scope, page, ReadCluster, ct, nameContains is null ? null : ("display_name", nameContains));

    public async Task SaveBackupsAsync(IReadOnlyCollection<BackupRecord> backups, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(backups);
        if (backups.Count == 0)
            return;
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (tx.ConfigureAwait(false))
            {
                var seq = await NextChangeSeqAsync(conn, tx, ct).ConfigureAwait(false);
                // An existing backup keeps its cluster, creation time and listing key (the order never changes); only a new
                // backup changes the listing, and bumps the generation that tells every instance its page boundaries are stale.
                await using var update = Command(conn,
                    "UPDATE backups SET state = @state, version = @version, is_active = @is_active, " +
                    "earliest_recovery_target_us = @earliest_recovery_target_us, size_bytes = @size_bytes, location = @location, " +
                    "system_identifier = @system_identifier, timeline = @timeline, start_lsn = @start_lsn, end_lsn = @end_lsn, " +
                    "change_seq = @change_seq WHERE id = @id");
                update.Transaction = tx;
                await using var insert = Command(conn,
                    $"INSERT INTO backups ({BackupColumns}, listing_key, change_seq) VALUES (@id, @cluster_id, @created_us, @state, " +
                    "@version, @is_active, @earliest_recovery_target_us, @size_bytes, @location, @system_identifier, @timeline, " +
                    "@start_lsn, @end_lsn, @listing_key, @change_seq)");
                insert.Transaction = tx;
                Set(update, "change_seq", seq);
                Set(insert, "change_seq", seq);
                var inserted = false;
                foreach (var b in backups)
                {
                    AddBackupValues(update, b);
                    if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) > 0)
                        continue;
                    AddBackupValues(insert, b);
                    Set(insert, "cluster_id", b.ClusterId);
                    Set(insert, "created_us", ToMicros(b.CreatedDate));
                    Set(insert, "listing_key", ListingKey(b.CreatedDate, b.Id));
                    await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    inserted = true;
                }

                if (inserted)
                    await BumpGenerationAsync(conn, tx, ct).ConfigureAwait(false);

                await tx.CommitAsync(ct).ConfigureAwait(false);
                Interlocked.Increment(ref _localBackupWrites);
            }
        }
    }

    /// <summary>
    /// Sets the values of a backup on a command that is executed once per backup. Parameters are created once and their
    /// values replaced (never cleared and re-added), which keeps Npgsql's automatic preparation bound to the right values.
    /// </summary>
    private static void AddBackupValues(DbCommand cmd, BackupRecord b)
    {
        Set(cmd, "id", b.Id);
        Set(cmd, "state", StateName(b.State));
        Set(cmd, "version", b.Version);
        Set(cmd, "is_active", b.IsActive);
        Set(cmd, "earliest_recovery_target_us", b.EarliestRecoveryTargetTime is { } t ? ToMicros(t) : null, DbType.Int64);
        Set(cmd, "size_bytes", b.SizeBytes);
        Set(cmd, "location", b.Location);
        Set(cmd, "system_identifier", b.SystemIdentifier, DbType.String);
        Set(cmd, "timeline", b.Timeline, DbType.Int32);
        Set(cmd, "start_lsn", b.StartLsn is { } s ? unchecked((long)s) : null, DbType.Int64);
        Set(cmd, "end_lsn", b.EndLsn is { } e ? unchecked((long)e) : null, DbType.Int64);
    }

    /// <summary>Sets (or first adds) a parameter with a fixed type, so a null and a value prepare the same statement.</summary>
    private static void Set(DbCommand cmd, string name, object? value, DbType? type = null)
    {
        var p = cmd.Parameters.Contains(name) ? cmd.Parameters[name] : null;
        if (p is null)
        {
            p = cmd.CreateParameter();
            p.ParameterName = name;
            if (type is { } t)
                p.DbType = t;
            cmd.Parameters.Add(p);
        }

        p.Value = value ?? DBNull.Value;
    }

    /// <summary>
    /// Takes the next change-feed sequence number. The first statement of every transaction that writes backups: the
    /// catalog_state row it updates stays locked until the transaction ends, so writers take numbers in commit order and
    /// always lock catalog_state before any backup row (no lock-order deadlock between them).
    /// </summary>
    private static async Task<long> NextChangeSeqAsync(DbConnection conn, DbTransaction tx, CancellationToken ct)
    {
        await using var next = Command(conn,
            "UPDATE catalog_state SET backups_change_seq = backups_change_seq + 1 WHERE id = 1 RETURNING backups_change_seq");
        next.Transaction = tx;
        return Convert.ToInt64(await next.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    private static async Task BumpGenerationAsync(DbConnection conn, DbTransaction tx, CancellationToken ct)
    {
        await using var bump = Command(conn, "UPDATE catalog_state SET backups_generation = backups_generation + 1 WHERE id = 1");
        bump.Transaction = tx;
        await bump.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The key that sorts backups in listing order (newest first, then id) as plain bytes: 16 hex digits of
    /// 2^63-1 minus the creation time in microseconds, ':', the id.
    /// </summary>
    public static string ListingKey(DateTimeOffset created, string id) =>
        string.Create(CultureInfo.InvariantCulture, $"{long.MaxValue - ToMicros(created):x16}:{id}");

    public async Task<BackupRecord?> GetBackupAsync(string backupId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(backupId);
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            await using var cmd = Command(conn, $"SELECT {BackupColumns} FROM backups WHERE id = @id");
            Add(cmd, "id", backupId);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadBackup(reader) : null;
        }
    }

    /// <summary>Every <see cref="BoundaryStride"/>-th listing key is cached, so no page skips more rows than that.</summary>
    public const int BoundaryStride = 256;

    private readonly SemaphoreSlim _boundaryLock = new(1, 1);
    private (long Generation, string[] Keys) _boundaries = (-1, []);

    /// <summary>
    /// A page of backups in listing order. The page is found by seeking its listing key: for the whole listing, the key at
    /// the nearest cached boundary at or before the offset (cached per catalog generation, rebuilt when a backup is added or
    /// removed), then at most <see cref="BoundaryStride"/> - 1 rows are skipped. Scoped listings (a principal's clusters, one
    /// cluster) skip within their own index range. One extra row tells whether a next page exists; no count is taken.
    /// </summary>
    public async Task<Page<BackupRecord>> ListBackupsAsync(ClusterScope scope, PageRequest page, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (scope.Ids is { Count: 0 })
            return new Page<BackupRecord>([], page.Offset, page.Limit, HasMore: false);

        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            await using var cmd = conn.CreateCommand();
            var where = new StringBuilder();
            var skip = page.Offset;
            if (scope.Ids is { } ids)
            {
                AppendScope(where, cmd, "cluster_id", ids);
            }
            else if (page.Offset >= BoundaryStride)
            {
                var keys = await BoundariesAsync(conn, ct).ConfigureAwait(false);
                var b = page.Offset / BoundaryStride;
                if (b >= keys.Length)
                    return new Page<BackupRecord>([], page.Offset, page.Limit, HasMore: false);
                where.Append(" WHERE listing_key >= @from");
                Add(cmd, "from", keys[b]);
                skip = page.Offset - (b * BoundaryStride);
            }

#pragma warning disable CA2100 // built from constants and parameter names only
            cmd.CommandText = $"SELECT {BackupColumns} FROM backups{where} ORDER BY listing_key LIMIT @limit OFFSET @offset";
#pragma warning restore CA2100
            Add(cmd, "limit", page.Limit + 1);
            Add(cmd, "offset", skip);
            var items = new List<BackupRecord>(page.Limit + 1);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                items.Add(ReadBackup(reader));
            var hasMore = items.Count > page.Limit;
            if (hasMore)
                items.RemoveAt(items.Count - 1);
            return new Page<BackupRecord>(items, page.Offset, page.Limit, hasMore);
        }
    }

    /// <summary>The listing keys at positions 0, stride, 2 × stride, ... for the catalog's current generation.</summary>
    private async Task<string[]> BoundariesAsync(DbConnection conn, CancellationToken ct)
    {
        long generation;
        await using (var gen = Command(conn, "SELECT backups_generation FROM catalog_state WHERE id = 1"))
            generation = Convert.ToInt64(await gen.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
        var cached = _boundaries;
        if (cached.Generation == generation)
            return cached.Keys;

        await _boundaryLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_boundaries.Generation == generation)
                return _boundaries.Keys;
            var keys = new List<string>();
            await using var cmd = Command(conn, "SELECT listing_key FROM backups ORDER BY listing_key");
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var position = 0L;
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                if (position++ % BoundaryStride == 0)
                    keys.Add(reader.GetString(0));
            }

            _boundaries = (generation, keys.ToArray());
            return _boundaries.Keys;
        }
        finally
        {
            _boundaryLock.Release();
        }
    }

    public async Task<bool> DeleteBackupAsync(string backupId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(backupId);
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (tx.ConfigureAwait(false))
            {
                var seq = await NextChangeSeqAsync(conn, tx, ct).ConfigureAwait(false);
                await using (var bases = Command(conn, "DELETE FROM base_backups WHERE backup_id = @id"))
                {
                    bases.Transaction = tx;
                    Add(bases, "id", backupId);
                    await bases.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                await using var cmd = Command(conn, "DELETE FROM backups WHERE id = @id");
                cmd.Transaction = tx;
                Add(cmd, "id", backupId);
                var deleted = await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) > 0;
                if (deleted)
                {
                    await BumpGenerationAsync(conn, tx, ct).ConfigureAwait(false);
                    await RecordDeletionAsync(conn, tx, seq, backupId, ct).ConfigureAwait(false);
                }

                await tx.CommitAsync(ct).ConfigureAwait(false);
                Interlocked.Increment(ref _localBackupWrites);
                return deleted;
            }
        }
    }

    /// <summary>
    /// Leaves the deleted backup's id in the change feed, and prunes the deletions older than
    /// <see cref="DeletionRetention"/> (recording the newest pruned number: readers behind it reload everything).
    /// </summary>
    private static async Task RecordDeletionAsync(DbConnection conn, DbTransaction tx, long seq, string backupId, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        await using (var record = Command(conn, "INSERT INTO backup_deletions (change_seq, id, deleted_us) VALUES (@seq, @id, @now)"))
        {
            record.Transaction = tx;
            Add(record, "seq", seq);
            Add(record, "id", backupId);
            Add(record, "now", ToMicros(now));
            await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        var cutoff = ToMicros(now - DeletionRetention);
        await using (var mark = Command(conn,
                         "UPDATE catalog_state SET deletions_pruned_seq = coalesce((SELECT max(change_seq) FROM backup_deletions " +
                         "WHERE deleted_us < @cutoff), deletions_pruned_seq) WHERE id = 1"))
        {
            mark.Transaction = tx;
            Add(mark, "cutoff", cutoff);
            await mark.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await using var prune = Command(conn, "DELETE FROM backup_deletions WHERE deleted_us < @cutoff");
        prune.Transaction = tx;
        Add(prune, "cutoff", cutoff);
        await prune.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<long> ReadAllBackupsAsync(Action<BackupRecord> sink, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(sink);
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            var (position, _) = await ReadFeedStateAsync(conn, ct).ConfigureAwait(false);
            await using var cmd = Command(conn, $"SELECT {BackupColumns} FROM backups ORDER BY listing_key");
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                sink(ReadBackup(reader));
            return position;
        }
    }

    /// <inheritdoc />
    public async Task<BackupChanges?> ReadBackupChangesAsync(long since, int maxChanges, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxChanges);
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            // The position first: every change up to it is committed, so reading the rows and deletions after `since`
            // afterwards (each statement seeing at least as much) misses none; newer ones seen too are re-read next time.
            var (position, pruned) = await ReadFeedStateAsync(conn, ct).ConfigureAwait(false);
            if (position == since)
                return new BackupChanges(position, []);
            if (position < since || pruned > since)
                return null;

            var changes = new List<BackupChange>();
            await using (var rows = Command(conn,
                             $"SELECT {BackupColumns}, change_seq FROM backups WHERE change_seq > @since ORDER BY change_seq LIMIT @max"))
            {
                Add(rows, "since", since);
                Add(rows, "max", maxChanges + 1);
                await using var reader = await rows.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    var b = ReadBackup(reader);
                    changes.Add(new BackupChange(reader.GetInt64(13), b.Id, b));
                }
            }

            if (changes.Count > maxChanges)
                return null;
            await using (var deletions = Command(conn,
                             "SELECT change_seq, id FROM backup_deletions WHERE change_seq > @since ORDER BY change_seq LIMIT @max"))
            {
                Add(deletions, "since", since);
                Add(deletions, "max", maxChanges + 1);
                await using var reader = await deletions.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    changes.Add(new BackupChange(reader.GetInt64(0), reader.GetString(1), null));
            }

            if (changes.Count > maxChanges)
                return null;
            changes.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
            return new BackupChanges(position, changes);
        }
    }

    private static async Task<(long Position, long Pruned)> ReadFeedStateAsync(DbConnection conn, CancellationToken ct)
    {
        await using var cmd = Command(conn, "SELECT backups_change_seq, deletions_pruned_seq FROM catalog_state WHERE id = 1");
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            throw new PgVaultException(ErrorCode.CatalogUnavailable, "the catalog has no catalog_state row",
                "run 'pgvault catalog migrate'");
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    public async Task<BackupRecord?> GetActiveBackupAsync(string clusterId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(clusterId);
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            await using var cmd = Command(conn,
                $"SELECT {BackupColumns} FROM backups WHERE cluster_id = @c AND is_active = @t ORDER BY created_us DESC, id LIMIT 1");
            Add(cmd, "c", clusterId);
            Add(cmd, "t", true);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadBackup(reader) : null;
        }
    }

    private const string BaseBackupColumns =
        "backup_id, label, state, timeline, start_lsn, end_lsn, started_us, completed_us, size_bytes, database_bytes, error, type";

    public async Task SaveBaseBackupAsync(BaseBackupRecord baseBackup, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(baseBackup);
        var b = baseBackup;
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            await using var cmd = Command(conn,
                $"INSERT INTO base_backups ({BaseBackupColumns}) VALUES (@backup_id, @label, @state, @timeline, @start_lsn, @end_lsn, " +
                "@started_us, @completed_us, @size_bytes, @database_bytes, @error, @type) ON CONFLICT (backup_id, label) DO UPDATE SET " +
                "state = excluded.state, timeline = excluded.timeline, start_lsn = excluded.start_lsn, end_lsn = excluded.end_lsn, " +
                "started_us = excluded.started_us, completed_us = excluded.completed_us, size_bytes = excluded.size_bytes, " +
                "database_bytes = excluded.database_bytes, error = excluded.error, type = excluded.type");
            Add(cmd, "backup_id", b.BackupId);
            Add(cmd, "label", b.Label);
            Add(cmd, "state", StateName(b.State));
            Add(cmd, "timeline", b.Timeline);
            Add(cmd, "start_lsn", b.StartLsn is { } s ? unchecked((long)s) : null);
            Add(cmd, "end_lsn", b.EndLsn is { } e ? unchecked((long)e) : null);
            Add(cmd, "started_us", ToMicros(b.StartedAt));
            Add(cmd, "completed_us", b.CompletedAt is { } c ? ToMicros(c) : null);
            Add(cmd, "size_bytes", b.SizeBytes);
            Add(cmd, "database_bytes", b.DatabaseBytes);
            Add(cmd, "error", b.Error);
            Add(cmd, "type", b.Type);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    public async Task<bool> DeleteBaseBackupAsync(string backupId, string label, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(backupId);
        ArgumentNullException.ThrowIfNull(label);
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            await using var cmd = Command(conn, "DELETE FROM base_backups WHERE backup_id = @id AND label = @label");
            Add(cmd, "id", backupId);
            Add(cmd, "label", label);
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) > 0;
        }
    }

    public async Task<IReadOnlyList<BaseBackupRecord>> ListBaseBackupsAsync(string backupId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(backupId);
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            await using var cmd = Command(conn, $"SELECT {BaseBackupColumns} FROM base_backups WHERE backup_id = @id ORDER BY started_us, label");
            Add(cmd, "id", backupId);
            var list = new List<BaseBackupRecord>();
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                list.Add(ReadBaseBackup(r));
            }

            return list;
        }
    }

    private const string PeriodColumns = "cluster_id, backup_id, kind, started_us, ended_us, reason";

    public async Task<bool> OpenClusterPeriodAsync(ClusterPeriodRecord period, DateTimeOffset pruneBefore, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(period);
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (tx.ConfigureAwait(false))
            {
                // The oldest ended periods go first: past the retention window, and beyond the most kept per cluster.
                await using (var prune = Command(conn,
                                 "DELETE FROM cluster_periods WHERE cluster_id = @c AND ended_us IS NOT NULL AND (ended_us < @cutoff OR id <= " +
                                 "(SELECT id FROM cluster_periods WHERE cluster_id = @c ORDER BY id DESC LIMIT 1 OFFSET @keep))"))
                {
                    prune.Transaction = tx;
                    Add(prune, "c", period.ClusterId);
                    Add(prune, "cutoff", ToMicros(pruneBefore));
                    Add(prune, "keep", ClusterPeriodRecord.MaxPerCluster - 1);
                    await prune.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                int inserted;
                await using (var insert = Command(conn,
                                 $"INSERT INTO cluster_periods ({PeriodColumns}) SELECT @c, @backup_id, @kind, @started_us, @ended_us, @reason " +
                                 "WHERE @closed OR NOT EXISTS (SELECT 1 FROM cluster_periods WHERE cluster_id = @c AND kind = @kind AND ended_us IS NULL)"))
                {
                    insert.Transaction = tx;
                    Set(insert, "c", period.ClusterId, DbType.String);
                    Set(insert, "backup_id", period.BackupId, DbType.String);
                    Set(insert, "kind", period.Kind, DbType.String);
                    Set(insert, "started_us", ToMicros(period.Start), DbType.Int64);
                    Set(insert, "ended_us", period.End is { } e ? ToMicros(e < period.Start ? period.Start : e) : null, DbType.Int64);
                    Set(insert, "reason", period.Reason, DbType.String);
                    Set(insert, "closed", period.End is not null, DbType.Boolean);
                    inserted = await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                await tx.CommitAsync(ct).ConfigureAwait(false);
                return inserted > 0;
            }
        }
    }

    public async Task<int> CloseClusterPeriodsAsync(string clusterId, string kind, DateTimeOffset end, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(clusterId);
        ArgumentNullException.ThrowIfNull(kind);
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            await using var cmd = Command(conn,
                "UPDATE cluster_periods SET ended_us = CASE WHEN started_us > @end THEN started_us ELSE @end END " +
                "WHERE cluster_id = @c AND kind = @kind AND ended_us IS NULL");
            Add(cmd, "end", ToMicros(end));
            Add(cmd, "c", clusterId);
            Add(cmd, "kind", kind);
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    public async Task<IReadOnlyList<ClusterPeriodRecord>> ListClusterPeriodsAsync(string clusterId, DateTimeOffset since, int limit,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(clusterId);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            await using var cmd = Command(conn,
                $"SELECT {PeriodColumns} FROM cluster_periods WHERE cluster_id = @c AND (ended_us IS NULL OR ended_us >= @since) " +
                "ORDER BY started_us DESC, id DESC LIMIT @limit");
            Add(cmd, "c", clusterId);
            Add(cmd, "since", ToMicros(since));
            Add(cmd, "limit", limit);
            var list = new List<ClusterPeriodRecord>();
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                list.Add(ReadPeriod(r));
            return list;
        }
    }

    private static ClusterPeriodRecord ReadPeriod(DbDataReader r) => new()
    {
        ClusterId = r.GetString(0),
        BackupId = r.IsDBNull(1) ? null : r.GetString(1),
        Kind = r.GetString(2),
        Start = FromMicros(r.GetInt64(3)),
        End = r.IsDBNull(4) ? null : FromMicros(r.GetInt64(4)),
        Reason = r.GetString(5),
    };

    /// <summary>
    /// A page in the stable order (created_us DESC, id). The keys of the page are found first in the listing index
    /// alone (an index-only scan skips <c>offset</c> entries without touching the table), then joined to their rows.
    /// One extra key is fetched to learn whether a next page exists, so no count is ever taken.
    /// </summary>
    private async Task<Page<T>> ListAsync<T>(string table, string columns, string scopeColumn, ClusterScope scope,
        PageRequest page, Func<DbDataReader, T> read, CancellationToken ct, (string Column, string Text)? contains = null)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (scope.Ids is { Count: 0 })
            return new Page<T>([], page.Offset, page.Limit, HasMore: false);

        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            await using var cmd = conn.CreateCommand();
            var where = new StringBuilder();
            if (scope.Ids is { } ids)
                AppendScope(where, cmd, scopeColumn, ids);
            if (contains is { } c)
            {
                // Case-insensitive "contains" in the SQL both providers share: LIKE with the wildcards escaped, both sides in upper
                // case (SQLite's upper() folds ASCII letters only, PostgreSQL's every letter).
                where.Append(where.Length == 0 ? " WHERE " : " AND ").Append("upper(").Append(c.Column).Append(") LIKE @contains ESCAPE '!'");
                Add(cmd, "contains", "%" + c.Text.ToUpperInvariant().Replace("!", "!!", StringComparison.Ordinal)
                    .Replace("%", "!%", StringComparison.Ordinal).Replace("_", "!_", StringComparison.Ordinal) + "%");
            }

            var prefixed = string.Join(", ", columns.Split(", ").Select(c => "t." + c));
            cmd.CommandText =
                $"SELECT {prefixed} FROM (SELECT id, created_us FROM {table}{where} ORDER BY created_us DESC, id " +
                $"LIMIT @limit OFFSET @offset) k JOIN {table} t ON t.id = k.id ORDER BY k.created_us DESC, k.id";
            Add(cmd, "limit", page.Limit + 1);
            Add(cmd, "offset", page.Offset);

            var items = new List<T>(Math.Min(page.Limit + 1, 1001));
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                items.Add(read(reader));
            var hasMore = items.Count > page.Limit;
            if (hasMore)
                items.RemoveAt(items.Count - 1);
            return new Page<T>(items, page.Offset, page.Limit, hasMore);
        }
    }

    /// <summary>Appends <c> WHERE column IN (@s0, @s1, ...)</c> with one parameter per id.</summary>
    private static void AppendScope(StringBuilder where, DbCommand cmd, string column, IReadOnlySet<string> ids)
    {
        where.Append(" WHERE ").Append(column).Append(" IN (");
        var i = 0;
        foreach (var id in ids.Order(StringComparer.Ordinal))
        {
            var name = "s" + i.ToString(CultureInfo.InvariantCulture);
            where.Append(i == 0 ? "@" : ", @").Append(name);
            Add(cmd, name, id);
            i++;
        }

        where.Append(')');
    }

    private static BackupRecord ReadBackup(DbDataReader r) => new()
    {
        Id = r.GetString(0),
        ClusterId = r.GetString(1),
        CreatedDate = FromMicros(r.GetInt64(2)),
        State = ParseState<BackupState>(r.GetString(3)),
        Version = r.GetString(4),
        IsActive = r.GetBoolean(5),
        EarliestRecoveryTargetTime = r.IsDBNull(6) ? null : FromMicros(r.GetInt64(6)),
        SizeBytes = r.GetInt64(7),
        Location = r.GetString(8),
        SystemIdentifier = r.IsDBNull(9) ? null : r.GetString(9),
        Timeline = r.IsDBNull(10) ? null : r.GetInt32(10),
        StartLsn = r.IsDBNull(11) ? null : unchecked((ulong)r.GetInt64(11)),
        EndLsn = r.IsDBNull(12) ? null : unchecked((ulong)r.GetInt64(12)),
    };

    private static BaseBackupRecord ReadBaseBackup(DbDataReader r) => new()
    {
        BackupId = r.GetString(0),
        Label = r.GetString(1),
        State = ParseState<BaseBackupState>(r.GetString(2)),
        Timeline = r.GetInt32(3),
        StartLsn = r.IsDBNull(4) ? null : unchecked((ulong)r.GetInt64(4)),
        EndLsn = r.IsDBNull(5) ? null : unchecked((ulong)r.GetInt64(5)),
        StartedAt = FromMicros(r.GetInt64(6)),
        CompletedAt = r.IsDBNull(7) ? null : FromMicros(r.GetInt64(7)),
        SizeBytes = r.GetInt64(8),
        DatabaseBytes = r.GetInt64(9),
        Error = r.IsDBNull(10) ? null : r.GetString(10),
        Type = r.GetString(11),
    };

    private static ClusterRecord ReadCluster(DbDataReader r) => new()
    {
        Id = r.GetString(0),
        DisplayName = r.GetString(1),
        CreatedDate = FromMicros(r.GetInt64(2)),
        State = ParseState<ClusterState>(r.GetString(3)),
        PostgresVersion = r.IsDBNull(4) ? null : r.GetString(4),
        BackupLocation = r.GetString(5),
    };

    /// <summary>States are stored by their API spelling (AVAILABLE, ...).</summary>
    private static string StateName<TEnum>(TEnum state) where TEnum : struct, Enum =>
        state.ToString().ToUpperInvariant();

    private static TEnum ParseState<TEnum>(string value) where TEnum : struct, Enum =>
        Enum.TryParse<TEnum>(value, ignoreCase: true, out var s)
            ? s
            : throw new PgVaultException(ErrorCode.CatalogUnavailable, $"catalog holds unknown state '{value}'",
                "the catalog may have been written by a newer pgvault; rebuild it with 'pgvault catalog rebuild'");

    public static long ToMicros(DateTimeOffset t) => (t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    public static DateTimeOffset FromMicros(long us) => DateTimeOffset.UnixEpoch.AddTicks(us * 10);

    protected static DbCommand Command(DbConnection conn, string sql)
    {
        ArgumentNullException.ThrowIfNull(conn);
        var cmd = conn.CreateCommand();
#pragma warning disable CA2100 // SQL text is built from constants only; values are parameters.
        cmd.CommandText = sql;
#pragma warning restore CA2100
        return cmd;
    }

    protected static void Add(DbCommand cmd, string name, object? value)
    {
        ArgumentNullException.ThrowIfNull(cmd);
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        cmd.Parameters.Add(p);
    }
}

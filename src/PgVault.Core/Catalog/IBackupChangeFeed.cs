namespace PgVault.Catalog;

/// <summary>
/// The backups of a catalog as a change feed, for a reader that keeps a copy of them in memory (the API's read model).
/// Every write to the backups takes the next sequence number of the catalog and stamps what it writes with it; sequence
/// numbers commit in order, so "everything after position P" is a complete account of what changed since P, whichever
/// process wrote it. The SQL catalogs implement it (migration 0005).
/// </summary>
public interface IBackupChangeFeed
{
    /// <summary>
    /// Incremented after every committed write to the backups made through this instance (this process's writes): a
    /// reader that remembers the value it last synchronised at knows, without asking the database, that it must read
    /// the feed before answering.
    /// </summary>
    long LocalBackupWrites { get; }

    /// <summary>
    /// Passes every backup to <paramref name="sink"/> in listing order (newest first, then id) and returns the feed
    /// position read before the first backup: continuing with <see cref="ReadBackupChangesAsync"/> from it misses nothing
    /// (changes committed during the read may be seen twice, which is harmless: they are whole records).
    /// </summary>
    Task<long> ReadAllBackupsAsync(Action<BackupRecord> sink, CancellationToken ct);

    /// <summary>
    /// The changes committed after position <paramref name="since"/>, in sequence order, and the position to continue
    /// from. Null when the reader must read every backup again instead: more than <paramref name="maxChanges"/> changes,
    /// deletions after <paramref name="since"/> already pruned (kept a day), or a position this catalog never had (it was
    /// replaced). When nothing changed this costs one single-row query.
    /// </summary>
    Task<BackupChanges?> ReadBackupChangesAsync(long since, int maxChanges, CancellationToken ct);
}

/// <summary>Changes after a feed position, oldest first, and the position the reader continues from.</summary>
public sealed record BackupChanges(long Position, IReadOnlyList<BackupChange> Changes);

/// <summary>One change: the backup as it is now, or (<see cref="Backup"/> null) its deletion.</summary>
public readonly record struct BackupChange(long Sequence, string Id, BackupRecord? Backup);

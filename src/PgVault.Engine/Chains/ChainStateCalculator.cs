using PgVault.Catalog;

namespace PgVault.Engine.Chains;

/// <summary>What the engine knows of a chain's WAL at a moment.</summary>
/// <param name="DurableEndLsn">End of the WAL durable in the repository.</param>
/// <param name="Streaming">True while WAL streaming is connected and storing.</param>
/// <param name="InterruptedSince">When streaming was last interrupted (null while streaming).</param>
/// <param name="WalStartLsn">
/// Where the chain's contiguous WAL starts (after expiry, later than its first base backup). A base backup that starts
/// before it is one expiry kept on request with only the WAL that makes it consistent: it opens no recovery window.
/// </param>
public readonly record struct WalStatus(ulong DurableEndLsn, bool Streaming, DateTimeOffset? InterruptedSince, ulong WalStartLsn = 0);

/// <summary>
/// The IONOS state and recovery window of a chain, from its base backups and WAL status. Pure, so it is tested with
/// tables of cases.
/// </summary>
public static class ChainStateCalculator
{
    public static (BackupState State, DateTimeOffset? EarliestRecoveryTargetTime) Compute(
        IReadOnlyList<BaseBackupRecord> baseBackups, WalStatus wal, DateTimeOffset now, TimeSpan lagThreshold)
    {
        ArgumentNullException.ThrowIfNull(baseBackups);
        // Restorable: complete, and the WAL up to its consistency point is in the repository.
        var restorable = baseBackups
            .Where(b => b.State == BaseBackupState.Complete && b.EndLsn is { } end && end <= wal.DurableEndLsn
                        && (b.StartLsn is not { } start || start >= wal.WalStartLsn))
            .OrderBy(b => b.StartedAt)
            .ToList();
        var latest = baseBackups.OrderBy(b => b.StartedAt).LastOrDefault();
        DateTimeOffset? earliest = restorable.Count > 0 ? restorable[0].CompletedAt : null;

        if (restorable.Count == 0)
        {
            var anyPending = baseBackups.Any(b => b.State == BaseBackupState.Running)
                             || baseBackups.Any(b => b.State == BaseBackupState.Complete);
            if (anyPending || latest is null)
                return (BackupState.Busy, null);
            return (BackupState.Failed, null);
        }

        // A short interruption (a server restart, a network blip) is not worth a DEGRADED; one longer than the threshold is.
        var streamingHealthy = wal.Streaming || wal.InterruptedSince is not { } since || now - since <= lagThreshold;
        var lastAttemptFailed = latest?.State == BaseBackupState.Failed;
        return (streamingHealthy && !lastAttemptFailed ? BackupState.Available : BackupState.Degraded, earliest);
    }
}

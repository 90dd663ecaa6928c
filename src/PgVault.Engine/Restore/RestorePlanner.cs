using System.Globalization;
using PgVault.Engine.Repository;
using PgVault.Errors;
using PgVault.Postgres;

namespace PgVault.Engine.Restore;

/// <summary>What a restore recovers to.</summary>
public abstract record RestoreTarget
{
    /// <summary>The end of the backup's WAL (default).</summary>
    public sealed record Latest : RestoreTarget;

    /// <summary>The base backup's consistency point (<c>recovery_target = 'immediate'</c>).</summary>
    public sealed record Immediate : RestoreTarget;

    public sealed record Time(DateTimeOffset Value) : RestoreTarget;

    public sealed record Position(Lsn Value) : RestoreTarget;

    public sealed record Xid(ulong Value) : RestoreTarget;

    public sealed record Name(string Value) : RestoreTarget;
}

/// <summary>The base backup to start from and the recovery settings that reach the target.</summary>
public sealed record RestorePlan(ScannedBaseBackup BaseBackup, IReadOnlyList<KeyValuePair<string, string>> RecoverySettings)
{
    /// <summary>
    /// The base backups to apply, oldest (a full one) first, <see cref="BaseBackup"/> last: itself alone when it is full,
    /// the full one and the incremental ones it depends on, in order, when it is incremental.
    /// </summary>
    public IReadOnlyList<ScannedBaseBackup> Layers { get; init; } = [BaseBackup];

    /// <summary>
    /// Where the WAL a restore from <see cref="BaseBackup"/> can replay ends, when that is before the chain's end (a kept
    /// base backup whose later WAL expiry removed); null when the chain's WAL from it on is whole.
    /// </summary>
    public Lsn? ReachableEnd { get; init; }
}

/// <summary>
/// Picks the newest restorable base backup of a chain (of any type: an incremental one whose base backups are all
/// complete) that can reach a target (for a restore point name, and an xid
/// whose place is not known, the oldest, which reaches every target in the window), and refuses targets outside the
/// chain's recovery window with a message naming the window. Pure: tested with tables of cases.
/// </summary>
public static class RestorePlanner
{
    /// <param name="chain">The chain as scanned from the repository.</param>
    /// <param name="target">Where to recover to.</param>
    /// <param name="chainEndTime">When the chain's WAL ends (now for an active chain, its last WAL object's time otherwise).</param>
    /// <param name="inclusive">Stop just after (true) or just before (false) the target.</param>
    /// <param name="baseBackupLabel">Start from this base backup instead of the one the target chooses (see
    /// <see cref="PlanFrom"/>); null: choose.</param>
    public static RestorePlan Plan(ScannedChain chain, RestoreTarget target, DateTimeOffset chainEndTime, bool inclusive = true,
        string? baseBackupLabel = null)
    {
        ArgumentNullException.ThrowIfNull(chain);
        ArgumentNullException.ThrowIfNull(target);
        if (baseBackupLabel is not null)
            return PlanFrom(chain, baseBackupLabel, target, chainEndTime, inclusive);
        var end = chain.DurableEnd;
        // A kept base backup older than the chain's WAL start has only the WAL that makes it consistent: no window.
        // (A base backup kept only because an incremental one needs it may have lost its WAL to expiry too.)
        var usable = chain.Restorable
            .OrderBy(b => b.Metadata!.StartedAt)
            .ToList();
        if (usable.Count == 0)
        {
            throw new PgVaultException(ErrorCode.ValidationFailed,
                $"backup {chain.Metadata?.BackupId} has no restorable base backup (none complete with its WAL stored)");
        }

        var window = $"the recovery window of backup {chain.Metadata!.BackupId} is {Format(usable[0].Metadata!.CompletedAt)} " +
                     $"to {Format(chainEndTime)} (LSN {usable[0].Metadata!.EndLsn} to {end})";
        ScannedBaseBackup pick;
        var settings = new List<KeyValuePair<string, string>>();
        switch (target)
        {
            case RestoreTarget.Time t:
                if (t.Value < usable[0].Metadata!.CompletedAt)
                    throw new PgVaultException(ErrorCode.ValidationFailed, $"target time {Format(t.Value)} is before the recovery window: {window}");
                if (t.Value > chainEndTime)
                    throw new PgVaultException(ErrorCode.ValidationFailed, $"target time {Format(t.Value)} is after the recovery window: {window}");
                pick = usable.Last(b => b.Metadata!.CompletedAt <= t.Value);
                settings.Add(new("recovery_target_time", t.Value.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff'+00'", CultureInfo.InvariantCulture)));
                break;
            case RestoreTarget.Position p:
                if (p.Value < Lsn.Parse(usable[0].Metadata!.EndLsn))
                    throw new PgVaultException(ErrorCode.ValidationFailed, $"target LSN {p.Value} is before the recovery window: {window}");
                if (p.Value > end)
                    throw new PgVaultException(ErrorCode.ValidationFailed, $"target LSN {p.Value} is after the recovery window: {window}");
                pick = usable.Last(b => Lsn.Parse(b.Metadata!.EndLsn) <= p.Value);
                settings.Add(new("recovery_target_lsn", p.Value.ToString()));
                break;
            case RestoreTarget.Xid x:
                // The newest base backup after whose start the transaction certainly commits; without that knowledge
                // the oldest, which reaches every transaction that commits inside the window.
                pick = usable.LastOrDefault(b => CommitsAfterStart(x.Value, b.Metadata!.NextXid)) ?? usable[0];
                settings.Add(new("recovery_target_xid", x.Value.ToString(CultureInfo.InvariantCulture)));
                break;
            case RestoreTarget.Name n:
                // Where a restore point lies is not recorded: the oldest base backup reaches every one in the window.
                pick = usable[0];
                settings.Add(new("recovery_target_name", n.Value));
                break;
            case RestoreTarget.Immediate:
                pick = usable[^1];
                settings.Add(new("recovery_target", "immediate"));
                break;
            default:
                pick = usable[^1];
                break;
        }

        return Finish(chain, pick, target, inclusive, settings);
    }

    /// <summary>
    /// A restore from the base backup labelled <paramref name="label"/>, whatever the target would choose. One the chain's
    /// WAL reaches from its start on plans as usual, refusing targets before its consistency point or after the chain's
    /// end. One whose WAL ends early (kept by <c>pgvault annotate --keep</c> while expiry removed the WAL after it: see
    /// <see cref="ScannedChain.ReachableEnd"/>) restores only to its consistency point (the default target: immediate)
    /// or to an LSN from its stop LSN to where its WAL ends; a time, xid or name target is refused, since the WAL that
    /// would reach it is gone.
    /// </summary>
    public static RestorePlan PlanFrom(ScannedChain chain, string label, RestoreTarget target, DateTimeOffset chainEndTime, bool inclusive = true)
    {
        ArgumentNullException.ThrowIfNull(chain);
        ArgumentNullException.ThrowIfNull(label);
        ArgumentNullException.ThrowIfNull(target);
        var backupId = chain.Metadata?.BackupId;
        var pick = chain.BaseBackups.FirstOrDefault(b => string.Equals(b.Label, label, StringComparison.Ordinal))
                   ?? throw new PgVaultException(ErrorCode.NotFound, $"backup {backupId} has no base backup '{label}'",
                       $"list its base backups with 'pgvault info --backup-id {backupId}'");
        if (!pick.Complete)
            throw new PgVaultException(ErrorCode.ValidationFailed, $"base backup {label} of backup {backupId} is incomplete: no restore starts from it");
        var reach = chain.ReachableEnd(pick)
                    ?? throw new PgVaultException(ErrorCode.ValidationFailed,
                        $"base backup {label} of backup {backupId} cannot be restored: the WAL from its start ({pick.Metadata!.StartLsn}) to its " +
                        $"stop ({pick.Metadata.EndLsn}) is not all stored" +
                        (pick.Metadata.References is { Count: > 0 } ? ", or a base backup it is applied over is missing" : ""),
                        $"'pgvault info --backup-id {backupId}' shows which base backups are restorable");
        var stop = Lsn.Parse(pick.Metadata!.EndLsn);
        var isolated = reach < chain.DurableEnd;
        var range = isolated
            ? $"base backup {label} of backup {backupId} is kept without the WAL after it (expiry removed it): it reaches LSN {stop} " +
              $"(its consistency point) to {reach} only"
            : $"base backup {label} of backup {backupId} reaches {Format(pick.Metadata.CompletedAt)} to {Format(chainEndTime)} " +
              $"(LSN {stop} to {reach})";
        var settings = new List<KeyValuePair<string, string>>();
        switch (target)
        {
            case RestoreTarget.Latest when isolated:
            case RestoreTarget.Immediate:
                target = new RestoreTarget.Immediate();
                settings.Add(new("recovery_target", "immediate"));
                break;
            case RestoreTarget.Latest:
                break;
            case RestoreTarget.Position p:
                if (p.Value < stop || p.Value > reach)
                    throw new PgVaultException(ErrorCode.ValidationFailed, $"target LSN {p.Value} is outside what it reaches: {range}");
                settings.Add(new("recovery_target_lsn", p.Value.ToString()));
                break;
            case RestoreTarget.Time or RestoreTarget.Xid or RestoreTarget.Name when isolated:
                throw new PgVaultException(ErrorCode.ValidationFailed,
                    $"a {TargetKind(target)} target cannot be checked against what it reaches: {range}",
                    "restore it to its consistency point (--target immediate, the default with --base-backup) or give --target-lsn in that range");
            case RestoreTarget.Time t:
                if (t.Value < pick.Metadata.CompletedAt || t.Value > chainEndTime)
                    throw new PgVaultException(ErrorCode.ValidationFailed, $"target time {Format(t.Value)} is outside what it reaches: {range}");
                settings.Add(new("recovery_target_time", t.Value.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff'+00'", CultureInfo.InvariantCulture)));
                break;
            case RestoreTarget.Xid x:
                settings.Add(new("recovery_target_xid", x.Value.ToString(CultureInfo.InvariantCulture)));
                break;
            case RestoreTarget.Name n:
                settings.Add(new("recovery_target_name", n.Value));
                break;
        }

        return Finish(chain, pick, target, inclusive, settings) with { ReachableEnd = isolated ? reach : null };
    }

    private static string TargetKind(RestoreTarget target) => target switch
    {
        RestoreTarget.Time => "time",
        RestoreTarget.Xid => "transaction id",
        _ => "restore point name",
    };

    private static RestorePlan Finish(ScannedChain chain, ScannedBaseBackup pick, RestoreTarget target, bool inclusive,
        List<KeyValuePair<string, string>> settings)
    {
        if (target is RestoreTarget.Time or RestoreTarget.Position or RestoreTarget.Xid)
            settings.Add(new("recovery_target_inclusive", inclusive ? "on" : "off"));
        if (target is not RestoreTarget.Latest)
            settings.Add(new("recovery_target_action", "promote"));
        settings.Add(new("recovery_target_timeline", "latest"));
        return new RestorePlan(pick, settings) { Layers = BaseBackup.IncrementalPlanner.Layers(pick, chain.BaseBackups) };
    }

    /// <summary>
    /// Whether transaction <paramref name="xid"/> (as PostgreSQL takes recovery_target_xid: 32-bit, or with its epoch in
    /// the high half) is at or past a base backup's <paramref name="nextXid"/>, so its commit is replayed from it. A
    /// 32-bit id cannot be placed once the epoch has moved on: then false (the caller falls back to the oldest).
    /// </summary>
    internal static bool CommitsAfterStart(ulong xid, ulong? nextXid) => nextXid switch
    {
        null => false,
        { } next when xid > uint.MaxValue || next <= uint.MaxValue => xid >= next,
        _ => false,
    };

    private static string Format(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}

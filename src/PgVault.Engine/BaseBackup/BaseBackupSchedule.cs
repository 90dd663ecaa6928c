using Cronos;
using PgVault.Configuration;
using PgVault.Engine.Repository;

namespace PgVault.Engine.BaseBackup;

/// <summary>One scheduled base backup: when, of which type (null: a full one taken as configured), and the cron behind it.</summary>
public readonly record struct ScheduledBaseBackup(DateTimeOffset At, BaseBackupType? Type, string Description);

/// <summary>
/// A cluster's base backup schedules: by default one per type (<see cref="ClusterOptions.FullBackupSchedule"/>,
/// <see cref="ClusterOptions.DiffBackupSchedule"/>, <see cref="ClusterOptions.IncrementalBackupSchedule"/>), or the one
/// untyped <see cref="ClusterOptions.BaseBackupSchedule"/> of earlier versions. Pure: the next base backup for a moment.
/// </summary>
public sealed class BaseBackupSchedule
{
    private readonly IReadOnlyList<(CronExpression Cron, BaseBackupType? Type, string Description)> _entries;

    private BaseBackupSchedule(IReadOnlyList<(CronExpression, BaseBackupType?, string)> entries, BaseBackupType? defaultType)
    {
        _entries = entries;
        DefaultType = defaultType;
    }

    /// <summary>
    /// The type of a base backup asked for without one (the first of a backup, an API request without <c>type</c>):
    /// <see cref="BaseBackupType.Full"/> with the typed schedules, so an incremental one can follow it; null (a full one as
    /// configured, which the server may compress) with <see cref="ClusterOptions.BaseBackupSchedule"/>.
    /// </summary>
    public BaseBackupType? DefaultType { get; }

    /// <summary>The schedules of <paramref name="cluster"/> (validated options: every expression parses).</summary>
    public static BaseBackupSchedule For(ClusterOptions cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        if (cluster.BaseBackupSchedule is { } legacy)
            return new BaseBackupSchedule([(CronExpression.Parse(legacy), null, $"BaseBackupSchedule {legacy}")], null);
        var entries = new List<(CronExpression, BaseBackupType?, string)>();
        foreach (var (text, type, name) in new[]
                 {
                     (cluster.FullBackupSchedule ?? ClusterOptions.DefaultFullBackupSchedule, BaseBackupType.Full, "FullBackupSchedule"),
                     (cluster.DiffBackupSchedule ?? "", BaseBackupType.Diff, "DiffBackupSchedule"),
                     (cluster.IncrementalBackupSchedule ?? ClusterOptions.DefaultIncrementalBackupSchedule, BaseBackupType.Incr, "IncrementalBackupSchedule"),
                 })
        {
            if (!string.IsNullOrWhiteSpace(text))
                entries.Add((CronExpression.Parse(text), type, $"{name} {text}"));
        }

        return new BaseBackupSchedule(entries, BaseBackupType.Full);
    }

    /// <summary>
    /// The first scheduled base backup after <paramref name="now"/>, or null when nothing is scheduled. Schedules that fall
    /// on the same minute give one base backup, the strongest type: full, then diff, then incr.
    /// </summary>
    public ScheduledBaseBackup? Next(DateTimeOffset now)
    {
        ScheduledBaseBackup? next = null;
        foreach (var (cron, type, description) in _entries)
        {
            if (cron.GetNextOccurrence(now.UtcDateTime, TimeZoneInfo.Utc) is not { } at)
                continue;
            var candidate = new ScheduledBaseBackup(new DateTimeOffset(at, TimeSpan.Zero), type, description);
            if (next is not { } best || candidate.At < best.At || (candidate.At == best.At && Strength(candidate.Type) < Strength(best.Type)))
                next = candidate;
        }

        return next;
    }

    private static int Strength(BaseBackupType? type) => type switch
    {
        null or BaseBackupType.Full => 0,
        BaseBackupType.Diff => 1,
        _ => 2,
    };
}

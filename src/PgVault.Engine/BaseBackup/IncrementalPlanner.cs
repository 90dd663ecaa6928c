using PgVault.Engine.Repository;

namespace PgVault.Engine.BaseBackup;

/// <summary>What a base backup will be: its type and the base backups it needs (none for a full one).</summary>
/// <param name="Type">The type taken (a full one when the request could not be met).</param>
/// <param name="Reference">The base backup compared with (its block map), or null for a full one.</param>
/// <param name="References">Labels it will need, oldest (the full) first, <paramref name="Reference"/> last; empty for a full one.</param>
/// <param name="FallbackReason">Why a diff or incr requested became a full one, or null.</param>
public sealed record IncrementalChoice(BaseBackupType Type, ScannedBaseBackup? Reference, IReadOnlyList<string> References, string? FallbackReason);

/// <summary>
/// Decides which base backup an incremental one refers to (pgBackRest's <c>diff</c>: the last full; <c>incr</c>: the last
/// of any type), and when it must be a full one instead: no such base backup complete, with a block map, and with every
/// base backup it needs itself complete. Pure: data in, decision out.
/// </summary>
public static class IncrementalPlanner
{
    public static IncrementalChoice Choose(BaseBackupType requested, IReadOnlyList<ScannedBaseBackup> baseBackups)
    {
        ArgumentNullException.ThrowIfNull(baseBackups);
        if (requested == BaseBackupType.Full)
            return new IncrementalChoice(BaseBackupType.Full, null, [], null);
        var candidates = baseBackups
            .Where(b => Restorable(b, baseBackups) && b.Metadata!.BlockMap is not null)
            .Where(b => requested == BaseBackupType.Incr || b.Metadata!.Type == BaseBackupType.Full)
            .OrderBy(b => b.Metadata!.StartedAt)
            .ToList();
        if (candidates.Count == 0)
        {
            var what = requested == BaseBackupType.Diff ? "full base backup" : "base backup";
            return new IncrementalChoice(BaseBackupType.Full, null, [],
                $"no complete {what} with a block map (and all it depends on) in this backup: a {requested.ToString().ToLowerInvariant()} needs one");
        }

        var reference = candidates[^1];
        return new IncrementalChoice(requested, reference, [.. reference.Metadata!.References ?? [], reference.Label], null);
    }

    /// <summary>
    /// Whether <paramref name="baseBackup"/> can be restored: complete, and (an incremental one) every base backup it
    /// needs present and complete in <paramref name="all"/>.
    /// </summary>
    public static bool Restorable(ScannedBaseBackup baseBackup, IReadOnlyCollection<ScannedBaseBackup> all)
    {
        ArgumentNullException.ThrowIfNull(baseBackup);
        ArgumentNullException.ThrowIfNull(all);
        if (!baseBackup.Complete || baseBackup.Metadata is null)
            return false;
        return (baseBackup.Metadata.References ?? []).All(label => all.Any(b => b.Label == label && b.Complete && b.Metadata is not null));
    }

    /// <summary>The base backups to apply to restore <paramref name="baseBackup"/>, oldest (the full) first, itself last.</summary>
    public static IReadOnlyList<ScannedBaseBackup> Layers(ScannedBaseBackup baseBackup, IReadOnlyCollection<ScannedBaseBackup> all)
    {
        ArgumentNullException.ThrowIfNull(baseBackup);
        ArgumentNullException.ThrowIfNull(all);
        var layers = (baseBackup.Metadata?.References ?? [])
            .Select(label => all.FirstOrDefault(b => b.Label == label && b.Complete)
                             ?? throw new PgVault.Errors.PgVaultException(PgVault.Errors.ErrorCode.ObjectCorrupt,
                                 $"base backup {baseBackup.Label} needs base backup {label}, which is missing or incomplete"))
            .ToList();
        layers.Add(baseBackup);
        return layers;
    }
}

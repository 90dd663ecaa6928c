using System.Text.Json;
using System.Text.Json.Serialization;
using PgVault.Postgres;

namespace PgVault.Engine.Repository;

/// <summary>
/// The <c>pgvault info --output json</c> document (docs/OPERATIONS.md, "pgvault info"): what the repository alone says
/// about each backup (chain). <see cref="Version"/> changes when a field changes meaning or goes away; fields may be added
/// within a version.
/// </summary>
public sealed record InfoDocument(int Version, IReadOnlyList<InfoBackup> Backups);

/// <summary>
/// One backup (chain) as its location holds it. The backup id is <c>chain.json</c>'s, or <c>cluster/chain</c> when that
/// object is missing (then the major and the other fields it gives are null). The stored size is the WAL plus the complete
/// base backups (as the API's backup size).
/// </summary>
public sealed record InfoBackup(
    string BackupId,
    string ClusterId,
    string ChainId,
    string? PostgresMajor,
    string Location,
    string? SystemIdentifier,
    DateTimeOffset? CreatedAt,
    InfoRecoveryWindow RecoveryWindow,
    long StoredBytes,
    long WalStoredBytes,
    IReadOnlyList<InfoBaseBackup> BaseBackups,
    IReadOnlyList<InfoWalRange> Wal)
{
    /// <summary>
    /// The IONOS state as the repository alone gives it (as <c>pgvault catalog rebuild</c> records it): AVAILABLE with a
    /// restorable base backup, BUSY while the first one has not completed, FAILED when none ever will.
    /// </summary>
    public string State { get; init; } = "UNKNOWN";
}

/// <summary>
/// From the end of the oldest complete base backup (its consistent point) to the end of the contiguous WAL. The
/// repository records no commit time for WAL: <paramref name="WalStoredAt"/> is when the newest WAL object was stored, an
/// upper bound of the latest time a restore can reach. The earliest time and LSN are null when no base backup is complete
/// (nothing can be restored).
/// </summary>
public sealed record InfoRecoveryWindow(DateTimeOffset? EarliestTime, string? EarliestLsn, string LatestLsn, DateTimeOffset? WalStoredAt);

/// <summary>
/// One base backup; the fields from <c>backup.json</c> are null when that object is missing. Complete: its completion
/// marker and metadata exist, a restore may start from it.
/// </summary>
public sealed record InfoBaseBackup(
    string Label,
    bool Complete,
    uint? Timeline,
    string? StartLsn,
    string? StopLsn,
    DateTimeOffset? StartTime,
    DateTimeOffset? StopTime,
    double? DurationSeconds,
    long? DatabaseBytes,
    long StoredBytes,
    string? Compression)
{
    /// <summary>Its type from <c>backup.json</c>; <c>full</c> when the metadata names none (every base backup so far).</summary>
    public string Type { get; init; } = BaseBackupMetadata.FullType;

    /// <summary>Kept by <c>pgvault annotate --keep</c>: expiry never deletes it, nor the WAL from its start to its stop LSN.</summary>
    public bool Keep { get; init; }

    /// <summary>Its annotations (<c>pgvault annotate key=value</c>), by key; empty when there are none.</summary>
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// What a restore from it reaches: <c>window</c> (its consistency point and every later point of the recovery window),
    /// <c>end</c> (only its consistency point and the WAL after it up to <see cref="ReachesLsn"/>: a kept base backup whose
    /// later WAL expiry removed; <c>pgvault restore --base-backup LABEL</c>), <c>none</c> (incomplete, or its WAL is not all stored).
    /// </summary>
    public string Restorable { get; init; } = "none";

    /// <summary>Where the WAL a restore from it can replay ends; null when <see cref="Restorable"/> is <c>none</c>.</summary>
    public string? ReachesLsn { get; init; }
}

/// <summary>
/// The WAL of one timeline: its first and last segment, where the contiguous data of the last one ends, and every segment
/// between them that is not held complete (missing: a gap no restore crosses).
/// </summary>
public sealed record InfoWalRange(
    uint Timeline,
    string FirstSegment,
    string LastSegment,
    string StartLsn,
    string EndLsn,
    int Segments,
    long StoredBytes,
    IReadOnlyList<string> Missing);

/// <summary>Builds the <see cref="InfoDocument"/> from scanned chains. Pure: the scan is the only I/O.</summary>
public static class RepositoryInfo
{
    /// <summary>The version of <see cref="InfoDocument"/>.</summary>
    public const int JsonVersion = 1;

    public static InfoBackup Describe(ScannedChain chain, string location)
    {
        ArgumentNullException.ThrowIfNull(chain);
        var m = chain.Metadata;
        var bases = chain.BaseBackups.Select(b => Describe(chain, b)).ToList();
        var oldest = chain.Restorable.OrderBy(b => b.Metadata!.CompletedAt).FirstOrDefault();
        var walKeys = chain.Wal.Select(w => w.Key).ToHashSet(StringComparer.Ordinal);
        var walStoredAt = chain.Objects.Where(o => walKeys.Contains(o.Key)).Select(o => (DateTimeOffset?)o.LastModified).Max();
        var window = new InfoRecoveryWindow(oldest?.Metadata!.CompletedAt, oldest?.Metadata!.EndLsn, chain.DurableEnd.ToString(), walStoredAt);
        return new InfoBackup(
            m?.BackupId ?? $"{chain.ClusterId}/{chain.ChainId}", chain.ClusterId, chain.ChainId, m?.PostgresMajor, m?.Location ?? location,
            m?.SystemIdentifier, m?.CreatedAt, window,
            chain.WalStoredBytes + chain.BaseBackups.Where(b => b.Complete).Sum(b => b.StoredBytes), chain.WalStoredBytes,
            bases, WalRanges(chain.Wal, NeededSegments(chain)))
        {
            State = State(chain),
        };
    }

    private static string State(ScannedChain chain)
    {
        if (chain.Metadata is null)
            return "UNKNOWN";
        var records = chain.BaseBackups.Select(b => Chains.CatalogRebuilder.ToRecord(chain.Metadata.BackupId, b)).ToList();
        var (state, _) = Chains.ChainStateCalculator.Compute(records,
            new Chains.WalStatus(chain.DurableEnd.Value, Streaming: true, InterruptedSince: null, chain.WalStart.Value), DateTimeOffset.UnixEpoch,
            TimeSpan.MaxValue);
        return state.ToString().ToUpperInvariant(); // the IONOS names: AVAILABLE, BUSY, FAILED, ...
    }

    /// <summary>
    /// Segments whose absence is a gap: from the chain's WAL start on, and those a kept base backup before it needs (its
    /// start to its stop). WAL that expiry deleted below the start is no gap.
    /// </summary>
    private static Func<ulong, bool> NeededSegments(ScannedChain chain)
    {
        var start = WalSegment.Number(chain.WalStart);
        var kept = chain.BaseBackups.Where(b => b is { Complete: true, Keep: true })
            .Select(b => (From: WalSegment.Number(Lsn.Parse(b.Metadata!.StartLsn)), To: WalSegment.Number(Lsn.Parse(b.Metadata.EndLsn))))
            .ToList();
        return s => s >= start || kept.Any(k => s >= k.From && s <= k.To);
    }

    private static InfoBaseBackup Describe(ScannedChain chain, ScannedBaseBackup b)
    {
        var m = b.Metadata;
        var reach = chain.Metadata is null ? null : chain.ReachableEnd(b);
        return new InfoBaseBackup(b.Label, b.Complete, m?.Timeline, m?.StartLsn, m?.EndLsn, m?.StartedAt, m?.CompletedAt,
            m is null ? null : Math.Round((m.CompletedAt - m.StartedAt).TotalSeconds, 3), m?.DatabaseBytes,
            m is null ? b.Objects.Sum(o => o.SizeBytes) : b.StoredBytes, m?.Compression)
        {
            Type = m is null ? BaseBackupMetadata.FullType : m.Type.ToString().ToLowerInvariant(),
            Keep = b.Keep,
            Restorable = reach is not { } r ? "none" : r < chain.DurableEnd ? "end" : "window",
            ReachesLsn = reach?.ToString(),
            Annotations = b.Annotation?.Annotations ?? new Dictionary<string, string>(StringComparer.Ordinal),
        };
    }

    /// <summary>One range per timeline, in timeline order.</summary>
    /// <param name="wal">The chain's WAL objects.</param>
    /// <param name="needed">Whether a segment's absence is a gap (default: every segment between the first and the last).</param>
    public static IReadOnlyList<InfoWalRange> WalRanges(IReadOnlyList<WalObject> wal, Func<ulong, bool>? needed = null)
    {
        ArgumentNullException.ThrowIfNull(wal);
        var ranges = new List<InfoWalRange>();
        foreach (var timeline in wal.GroupBy(w => w.Timeline).OrderBy(g => g.Key))
        {
            var objects = timeline.ToList();
            var first = objects.Min(w => w.Segment);
            var last = objects.Max(w => w.Segment);
            var missing = new List<string>();
            for (var s = first; s < last; s++)
            {
                if ((needed is null || needed(s)) && ScannedChain.Covered(objects, s) < WalSegment.DefaultSizeBytes)
                    missing.Add(WalSegment.Name(timeline.Key, s));
            }

            var firstStart = objects.Where(w => w.Segment == first).Min(w => w.Partial ? w.Offset : 0);
            ranges.Add(new InfoWalRange(timeline.Key, WalSegment.Name(timeline.Key, first), WalSegment.Name(timeline.Key, last),
                (WalSegment.Start(first) + firstStart).ToString(), (WalSegment.Start(last) + ScannedChain.Covered(objects, last)).ToString(),
                objects.Select(w => w.Segment).Distinct().Count(), objects.Sum(w => w.StoredBytes), missing));
        }

        return ranges;
    }

    public static string Serialize(InfoDocument document) => JsonSerializer.Serialize(document, InfoJson.Default.InfoDocument);
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(InfoDocument))]
internal sealed partial class InfoJson : JsonSerializerContext;

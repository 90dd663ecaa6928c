using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Postgres;
using PgVault.Storage;

namespace PgVault.Engine.Retention;

/// <summary>The retention of one cluster's backups.</summary>
/// <param name="RetentionDays">The recovery window kept: [now − RetentionDays, now].</param>
/// <param name="MinBaseBackups">Complete base backups always kept (with their WAL), however old.</param>
/// <param name="Configured">False for a cluster no longer in the configuration, or no longer backed up to the location
/// being expired: all its backups there are inactive.</param>
public sealed record RetentionPolicy(int RetentionDays, int MinBaseBackups, bool Configured)
{
    /// <summary>Base backups that never completed are removed once they have not been written to for this long.</summary>
    public static readonly TimeSpan IncompleteGrace = TimeSpan.FromDays(1);
}

/// <summary>A base backup expiry deletes, with its objects in deletion order (completion marker first, metadata last).</summary>
public sealed record BaseBackupExpiry(string Label, bool Complete, IReadOnlyList<ObjectInfo> Objects, string Reason)
{
    public long Bytes => Objects.Sum(o => o.SizeBytes);
}

/// <summary>What expiry does to one chain (one API backup). Deletion order is the order of the lists.</summary>
/// <param name="Chain">The chain as scanned.</param>
/// <param name="Whole">The whole chain goes: <c>chain.json</c> first, then everything else; the catalog row last.</param>
/// <param name="Reason">Why (for logs and the dry run).</param>
/// <param name="BaseBackups">Base backups to delete, oldest first (for a whole chain: all of them).</param>
/// <param name="Wal">WAL objects (segments, pieces, history files) to delete, oldest first.</param>
/// <param name="NewWalStart">Where the chain's WAL starts after expiry (written to <c>expiry.json</c> before WAL is deleted); null when unchanged.</param>
/// <param name="NewWindowStart">The chain's earliest recovery target time after expiry; null when nothing stays restorable or for a whole chain.</param>
/// <param name="Other">For a whole chain: its remaining objects (<c>chain.json</c> first, <c>expiry.json</c>, anything else).</param>
public sealed record ChainExpiryPlan(
    ScannedChain Chain,
    bool Whole,
    string Reason,
    IReadOnlyList<BaseBackupExpiry> BaseBackups,
    IReadOnlyList<ObjectInfo> Wal,
    Lsn? NewWalStart,
    DateTimeOffset? NewWindowStart,
    IReadOnlyList<ObjectInfo> Other)
{
    public string? BackupId => Chain.Metadata?.BackupId;

    /// <summary>
    /// Base backups the retention would delete but that are kept on request (<c>pgvault annotate --keep</c>), each with the
    /// WAL from its start to its stop LSN; oldest first.
    /// </summary>
    public IReadOnlyList<ScannedBaseBackup> KeptOnRequest { get; init; } = [];

    /// <summary>
    /// Base backups older than the window that are kept because a kept incremental one needs them, each with why
    /// (<c>"{label}: needed by {labels}"</c>); the dry run lists them.
    /// </summary>
    public IReadOnlyList<string> KeptAsReferences { get; init; } = [];

    public bool IsEmpty => !Whole && BaseBackups.Count == 0 && Wal.Count == 0;

    public int Objects => BaseBackups.Sum(b => b.Objects.Count) + Wal.Count + Other.Count;

    public long Bytes => BaseBackups.Sum(b => b.Bytes) + Wal.Sum(w => w.SizeBytes) + Other.Sum(o => o.SizeBytes);

    /// <summary>Bytes that leave the backup's <c>size</c> (WAL and complete base backups' data, as the catalog counts them).</summary>
    public long SizeBytesRemoved => BaseBackups.Where(b => b.Complete).Sum(b => DataBytes(b)) + Wal.Sum(w => w.SizeBytes);

    private static long DataBytes(BaseBackupExpiry b) =>
        b.Objects.Where(o => !(RepositoryKey.TryParse(o.Key, out var k)
                               && k.Kind is RepositoryObjectKind.BaseBackupMetadata or RepositoryObjectKind.BaseBackupMarker
                                   or RepositoryObjectKind.BaseBackupAnnotation))
            .Sum(o => o.SizeBytes);
}

/// <summary>
/// Decides what expiry deletes, from the repository alone and a given "now". Pure: tested with tables of cases.
/// </summary>
/// <remarks>
/// Per chain, with window start W = now − RetentionDays: keep the newest restorable base backup whose consistency point
/// (end) is at or before W (so W stays restorable), every later one, and at least MinBaseBackups; keep all WAL from the
/// oldest kept base backup's start segment on (on every timeline) and the history files of its timeline and later ones;
/// delete older base backups and WAL. When no base backup ends at or before W, nothing is old enough and all are kept.
/// Base backups that never completed go once nobody wrote to them for a day, or when a later complete base backup is the
/// oldest kept one and they hold metadata (half-deleted by an interrupted expiry). A chain that is not its cluster's
/// newest (inactive), or of a cluster no longer configured, goes whole once its last object is older than W, unless the
/// cluster's newer chains hold nothing restorable yet. A chain without <c>chain.json</c> is what an interrupted whole
/// expiry leaves and goes whole.
/// </remarks>
public static class ExpiryPlanner
{
    public static IReadOnlyList<ChainExpiryPlan> Plan(IReadOnlyList<ScannedChain> chains, Func<string, RetentionPolicy> policyOf, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(chains);
        ArgumentNullException.ThrowIfNull(policyOf);
        var plans = new List<ChainExpiryPlan>();
        foreach (var cluster in chains.GroupBy(c => c.ClusterId, StringComparer.Ordinal))
        {
            var policy = policyOf(cluster.Key);
            var described = cluster.Where(c => c.Metadata is not null).OrderBy(c => c.Metadata!.CreatedAt).ToList();
            var newest = described.LastOrDefault();
            foreach (var chain in cluster)
            {
                if (chain.Metadata is null)
                {
                    plans.Add(WholeChain(chain, "it has no chain.json (left by an interrupted expiry)"));
                    continue;
                }

                var active = policy.Configured && ReferenceEquals(chain, newest);
                var newerRestorable = described.Where(c => c.Metadata!.CreatedAt > chain.Metadata.CreatedAt).Any(c => c.Restorable.Any());
                plans.Add(PlanChain(chain, policy, active, newerRestorable || !policy.Configured, now));
            }
        }

        return plans;
    }

    /// <param name="chain">The chain as scanned.</param>
    /// <param name="policy">Its cluster's retention.</param>
    /// <param name="active">It is the active chain of a configured cluster (never expired whole).</param>
    /// <param name="mayGoWhole">Something newer of the cluster is restorable (or the cluster is gone): an old inactive chain may go whole.</param>
    /// <param name="now">The current time.</param>
    public static ChainExpiryPlan PlanChain(ScannedChain chain, RetentionPolicy policy, bool active, bool mayGoWhole, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(chain);
        ArgumentNullException.ThrowIfNull(policy);
        if (chain.Metadata is null)
            return WholeChain(chain, "it has no chain.json (left by an interrupted expiry)");
        var windowStart = now - TimeSpan.FromDays(policy.RetentionDays);
        // The chain's last write by the engine (expiry's own expiry.json does not count).
        var engineObjects = chain.Objects.Where(o => Kind(o) != RepositoryObjectKind.ExpiryRecord).ToList();
        var lastWrite = engineObjects.Count > 0 ? engineObjects.Max(o => o.LastModified) : chain.Metadata.CreatedAt;
        // A chain holding a base backup kept on request never goes whole: it is expired as an active one, around what is kept.
        if (!active && mayGoWhole && lastWrite < windowStart && !chain.BaseBackups.Any(b => b.Keep))
        {
            var why = policy.Configured ? "inactive" : "of a cluster no longer configured (for this location)";
            return WholeChain(chain, $"it is {why} and its last WAL ({Format(lastWrite)}) is before the window start {Format(windowStart)}");
        }

        var complete = chain.BaseBackups.Where(b => b.Complete)
            .OrderBy(b => Lsn.Parse(b.Metadata!.StartLsn)).ThenBy(b => b.Label, StringComparer.Ordinal).ToList();
        bool Restorable(ScannedBaseBackup b) => chain.IsRestorable(b);

        var keepFrom = complete.FindLastIndex(b => Restorable(b) && b.Metadata!.CompletedAt <= windowStart);
        if (keepFrom < 0)
            keepFrom = 0; // none old enough: all are inside the window
        keepFrom = Math.Min(keepFrom, Math.Max(0, complete.Count - policy.MinBaseBackups));
        var kept = complete.Skip(keepFrom).ToList();
        var oldestKept = kept.FirstOrDefault();
        // An incremental base backup kept needs the base backups it was taken against: they stay (their WAL need not).
        var keptOnRequest = complete.Take(keepFrom).Where(b => b.Keep).ToList();
        var neededBy = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var k in kept.Concat(keptOnRequest))
        {
            foreach (var reference in k.Metadata!.References ?? [])
            {
                if (!neededBy.TryGetValue(reference, out var list))
                    neededBy[reference] = list = [];
                list.Add(k.Label);
            }
        }

        var keptAsReferences = new List<string>();
        var bases = new List<BaseBackupExpiry>();
        foreach (var b in complete.Take(keepFrom).Where(b => !b.Keep))
        {
            if (neededBy.TryGetValue(b.Label, out var dependents))
            {
                keptAsReferences.Add($"{b.Label}: needed by {string.Join(", ", dependents)}");
                continue;
            }

            bases.Add(new BaseBackupExpiry(b.Label, true, Ordered(b),
                $"it ends at {Format(b.Metadata!.CompletedAt)}; base backup {oldestKept!.Label} (end {Format(oldestKept.Metadata!.CompletedAt)}) covers the window start {Format(windowStart)}"));
        }

        foreach (var b in chain.BaseBackups.Where(b => !b.Complete))
        {
            var written = b.Objects.Count > 0 ? b.Objects.Max(o => o.LastModified) : DateTimeOffset.MinValue;
            if (now - written > RetentionPolicy.IncompleteGrace)
                bases.Add(new BaseBackupExpiry(b.Label, false, Ordered(b), $"it never completed and was last written at {Format(written)}"));
            else if (b.Metadata is { } m && oldestKept is not null && Lsn.Parse(m.StartLsn) < Lsn.Parse(oldestKept.Metadata!.StartLsn))
                bases.Add(new BaseBackupExpiry(b.Label, false, Ordered(b), "it has no completion marker and is older than the oldest kept base backup"));
        }

        bases.Sort((x, y) => string.CompareOrdinal(x.Label, y.Label));

        var wal = new List<ObjectInfo>();
        Lsn? newWalStart = null;
        if (oldestKept is not null)
        {
            var segmentBytes = chain.Metadata.WalSegmentSizeBytes;
            var keepSegment = WalSegment.Number(Lsn.Parse(oldestKept.Metadata!.StartLsn), segmentBytes);
            var keepTimeline = keptOnRequest.Select(b => b.Metadata!.Timeline).Append(oldestKept.Metadata.Timeline).Min();
            // The WAL that makes each kept-on-request base backup consistent: its start segment to its stop segment.
            var pinned = keptOnRequest.Select(b => (From: WalSegment.Number(Lsn.Parse(b.Metadata!.StartLsn), segmentBytes),
                To: WalSegment.Number(Lsn.Parse(b.Metadata.EndLsn), segmentBytes))).ToList();
            var byKey = chain.Objects.ToDictionary(o => o.Key, StringComparer.Ordinal);
            wal.AddRange(chain.Wal.Where(w => w.Segment < keepSegment && !pinned.Any(p => w.Segment >= p.From && w.Segment <= p.To))
                .OrderBy(w => w.Segment).ThenBy(w => w.Timeline).ThenBy(w => w.Offset).ThenBy(w => w.Key, StringComparer.Ordinal)
                .Select(w => byKey.GetValueOrDefault(w.Key) ?? new ObjectInfo(w.Key, w.StoredBytes, DateTimeOffset.MinValue)));
            foreach (var h in chain.HistoryKeys.Order(StringComparer.Ordinal))
            {
                if (RepositoryKey.TryParse(h, out var history) && history.Kind == RepositoryObjectKind.History && history.Timeline < keepTimeline)
                    wal.Add(byKey.GetValueOrDefault(h) ?? new ObjectInfo(h, 0, DateTimeOffset.MinValue));
            }

            var start = WalSegment.Start(keepSegment, chain.Metadata.WalSegmentSizeBytes);
            if (start > chain.WalStart)
                newWalStart = start;
        }

        var windowAfter = kept.FirstOrDefault(Restorable)?.Metadata!.CompletedAt;
        var reason = oldestKept is null
            ? "no complete base backup: nothing of it is old enough"
            : $"window start {Format(windowStart)}: kept {kept.Count} base backup(s) from {oldestKept.Label}";
        return new ChainExpiryPlan(chain, false, reason, bases, wal, newWalStart, windowAfter, []) { KeptOnRequest = keptOnRequest, KeptAsReferences = keptAsReferences };
    }

    /// <summary>Everything of the chain: chain.json first (so it is never read again), base backups, WAL oldest first, the rest.</summary>
    private static ChainExpiryPlan WholeChain(ScannedChain chain, string reason)
    {
        var bases = chain.BaseBackups.OrderBy(b => b.Label, StringComparer.Ordinal)
            .Select(b => new BaseBackupExpiry(b.Label, b.Complete, Ordered(b), "the whole backup expires")).ToList();
        var taken = bases.SelectMany(b => b.Objects).Select(o => o.Key).ToHashSet(StringComparer.Ordinal);
        var walKeys = chain.Wal.OrderBy(w => w.Segment).ThenBy(w => w.Timeline).ThenBy(w => w.Offset).Select(w => w.Key)
            .Concat(chain.HistoryKeys.Order(StringComparer.Ordinal)).ToList();
        var byKey = chain.Objects.ToDictionary(o => o.Key, StringComparer.Ordinal);
        var wal = walKeys.Where(byKey.ContainsKey).Select(k => byKey[k]).ToList();
        taken.UnionWith(walKeys);
        var other = chain.Objects.Where(o => !taken.Contains(o.Key))
            .OrderBy(o => Kind(o) == RepositoryObjectKind.ChainMetadata ? 0 : 1).ThenBy(o => o.Key, StringComparer.Ordinal).ToList();
        return new ChainExpiryPlan(chain, true, reason, bases, wal, null, null, other);
    }

    /// <summary>A base backup's objects in deletion order: marker, data (parts, manifest, anything else), metadata.</summary>
    private static List<ObjectInfo> Ordered(ScannedBaseBackup b) =>
        [.. b.Objects.OrderBy(o => Kind(o) switch { RepositoryObjectKind.BaseBackupMarker => 0, RepositoryObjectKind.BaseBackupMetadata => 2, _ => 1 })
            .ThenBy(o => o.Key, StringComparer.Ordinal)];

    private static RepositoryObjectKind Kind(ObjectInfo o) => RepositoryKey.TryParse(o.Key, out var k) ? k.Kind : RepositoryObjectKind.Unknown;

    /// <summary>A time as expiry prints it (UTC, seconds).</summary>
    public static string Format(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
}

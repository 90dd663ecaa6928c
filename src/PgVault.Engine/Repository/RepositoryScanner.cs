using PgVault.Postgres;
using PgVault.Storage;

namespace PgVault.Engine.Repository;

/// <summary>A stored WAL object: a whole segment, or a piece [<see cref="Offset"/>, <see cref="End"/>) of one.</summary>
public sealed record WalObject(string Key, uint Timeline, ulong Segment, long Offset, long End, string Sha256, bool Partial, long StoredBytes);

/// <summary>A base backup as found in the repository: complete only when its marker exists.</summary>
public sealed record ScannedBaseBackup(string Label, string Prefix, BaseBackupMetadata? Metadata, bool Complete, long StoredBytes)
{
    /// <summary>Every object under the base backup's prefix (parts, manifest, metadata, marker, anything else).</summary>
    public IReadOnlyList<ObjectInfo> Objects { get; init; } = [];

    /// <summary>Its <c>annotation.json</c> (keep flag, annotations), or null when it has none.</summary>
    public BaseBackupAnnotation? Annotation { get; init; }

    /// <summary>Expiry never deletes it (nor the WAL that makes it consistent).</summary>
    public bool Keep => Annotation?.Keep == true;
}

/// <summary>Everything of one chain in the repository.</summary>
public sealed record ScannedChain(
    string ClusterId,
    string ChainId,
    ChainMetadata? Metadata,
    IReadOnlyList<WalObject> Wal,
    IReadOnlyList<string> HistoryKeys,
    long WalStoredBytes,
    IReadOnlyList<ScannedBaseBackup> BaseBackups,
    IReadOnlyList<string> UnknownKeys)
{
    /// <summary><c>expiry.json</c>, when expiry moved the start of the chain's WAL forward; null otherwise.</summary>
    public ExpiryMetadata? Expiry { get; init; }

    /// <summary>Every object of the chain, as listed.</summary>
    public IReadOnlyList<ObjectInfo> Objects { get; init; } = [];

    /// <summary>Where the chain's WAL starts: <c>chain.json</c>'s start, or later once expiry moved it (<c>expiry.json</c>).</summary>
    public Lsn WalStart
    {
        get
        {
            if (Metadata is null)
                return Lsn.Zero;
            var start = Lsn.Parse(Metadata.StartLsn);
            return Expiry is { } e && Lsn.Parse(e.WalStartLsn) > start ? Lsn.Parse(e.WalStartLsn) : start;
        }
    }

    /// <summary>
    /// The end of the contiguous WAL from the chain's WAL start: segments held whole or as pieces that cover them (the
    /// streamer makes a finished segment's tail durable as a piece before it stores the segment whole), then the pieces of
    /// the next one.
    /// </summary>
    public Lsn DurableEnd
    {
        get
        {
            if (Metadata is null)
                return Lsn.Zero;
            var segment = WalSegment.Number(WalStart);
            while (true)
            {
                var covered = Covered(segment);
                if (covered < WalSegment.DefaultSizeBytes)
                    return WalSegment.Start(segment) + covered;
                segment++;
            }
        }
    }

    /// <summary>The segments the chain holds complete: as one object, or as pieces that cover them.</summary>
    public IReadOnlySet<ulong> CompleteSegments()
    {
        var complete = Wal.Where(w => !w.Partial).Select(w => w.Segment).ToHashSet();
        foreach (var segment in Wal.Where(w => w.Partial).Select(w => w.Segment).Distinct().ToList())
        {
            if (Covered(segment) == WalSegment.DefaultSizeBytes)
                complete.Add(segment);
        }

        return complete;
    }

    /// <summary>How many bytes of a segment the chain holds contiguously from its start (on any timeline).</summary>
    private long Covered(ulong segment) => Covered(Wal, segment);

    /// <summary>How many bytes of a segment <paramref name="objects"/> hold contiguously from its start (a whole one: all).</summary>
    internal static long Covered(IReadOnlyCollection<WalObject> objects, ulong segment)
    {
        if (objects.Any(w => !w.Partial && w.Segment == segment))
            return WalSegment.DefaultSizeBytes;
        long covered = 0;
        foreach (var piece in objects.Where(w => w.Partial && w.Segment == segment).OrderBy(w => w.Offset))
        {
            if (piece.Offset > covered)
                break;
            covered = Math.Max(covered, piece.End);
        }

        return covered;
    }

    /// <summary>
    /// Complete base backups a restore can start from and reach the chain's end: their WAL is stored from their start (at or
    /// after <see cref="WalStart"/>) on, and the base backups an incremental one is applied over are complete. A kept base
    /// backup that expiry left before the WAL start is not among them.
    /// </summary>
    public IEnumerable<ScannedBaseBackup> Restorable => BaseBackups.Where(IsRestorable);

    /// <summary>Whether a restore can start from <paramref name="baseBackup"/> (see <see cref="Restorable"/>).</summary>
    public bool IsRestorable(ScannedBaseBackup baseBackup) =>
        BaseBackup.IncrementalPlanner.Restorable(baseBackup, BaseBackups)
        && Lsn.Parse(baseBackup.Metadata!.EndLsn) <= DurableEnd && Lsn.Parse(baseBackup.Metadata.StartLsn) >= WalStart;

    /// <summary>
    /// The end of the WAL a restore from <paramref name="baseBackup"/> can replay, or null when it cannot reach its own
    /// consistency point (incomplete, an incremental one over a missing base backup, or its WAL from start to stop not all
    /// stored). For a restorable base backup (<see cref="IsRestorable"/>) the chain's <see cref="DurableEnd"/>; for one
    /// before the chain's WAL start (kept by <c>pgvault annotate --keep</c> with only the WAL from its start to its stop)
    /// the end of the WAL stored contiguously from its start, at or after its stop LSN.
    /// </summary>
    public Lsn? ReachableEnd(ScannedBaseBackup baseBackup)
    {
        ArgumentNullException.ThrowIfNull(baseBackup);
        if (!baseBackup.Complete || baseBackup.Metadata is null || !BaseBackup.IncrementalPlanner.Restorable(baseBackup, BaseBackups))
            return null;
        if (IsRestorable(baseBackup))
            return DurableEnd;
        var segment = WalSegment.Number(Lsn.Parse(baseBackup.Metadata.StartLsn));
        while (true)
        {
            var covered = Covered(segment);
            if (covered < WalSegment.DefaultSizeBytes)
            {
                var end = WalSegment.Start(segment) + covered;
                return end >= Lsn.Parse(baseBackup.Metadata.EndLsn) ? end : null;
            }

            segment++;
        }
    }

    /// <summary>The highest timeline the chain's WAL reached.</summary>
    public uint Timeline => Wal.Count > 0 ? Wal.Max(w => w.Timeline) : Metadata?.Timeline ?? 1;
}

/// <summary>
/// Reads a repository's chains from their keys (<see cref="RepositoryKey"/>) and metadata objects (the repository is the
/// source of truth). Every metadata object passes the format gate (<see cref="RepositoryFormat"/>): a chain written by a
/// newer PgVault fails the whole scan, so nothing built on a scan (restore, verify, catalog rebuild, expiry) acts on
/// what it cannot read.
/// </summary>
public static class RepositoryScanner
{
    public static async Task<IReadOnlyList<ScannedChain>> ScanAsync(IObjectStore store, string? clusterId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var prefix = clusterId is null ? RepositoryLayout.ClustersPrefix : RepositoryLayout.ClusterPrefix(clusterId);
        var byChain = new SortedDictionary<(string Cluster, string Chain), List<(ObjectInfo Info, RepositoryKey Key)>>();
        await foreach (var o in store.ListAsync(prefix, ct).ConfigureAwait(false))
        {
            if (!RepositoryKey.TryParse(o.Key, out var key))
                continue;
            var chain = (key.ClusterId, key.ChainId);
            if (!byChain.TryGetValue(chain, out var list))
                byChain[chain] = list = [];
            list.Add((o, key));
        }

        var chains = new List<ScannedChain>();
        foreach (var ((cluster, chain), objects) in byChain)
            chains.Add(await ScanChainAsync(store, cluster, chain, objects, ct).ConfigureAwait(false));
        return chains;
    }

    private static async Task<ScannedChain> ScanChainAsync(IObjectStore store, string cluster, string chain,
        List<(ObjectInfo Info, RepositoryKey Key)> objects, CancellationToken ct)
    {
        ChainMetadata? metadata = null;
        ExpiryMetadata? expiry = null;
        var wal = new List<WalObject>();
        var history = new List<string>();
        var unknown = new List<string>();
        long walBytes = 0;
        var bases = new SortedDictionary<string, List<(ObjectInfo Info, RepositoryKey Key)>>(StringComparer.Ordinal);
        foreach (var (o, key) in objects)
        {
            if (key.InWal)
                walBytes += o.SizeBytes;
            switch (key.Kind)
            {
                case RepositoryObjectKind.ChainMetadata:
                    metadata = await ChainRepository.ReadMetadataAsync(store, o.Key, MetadataJson.Default.ChainMetadata,
                        RepositoryFormat.ChainVersion, ct).ConfigureAwait(false);
                    break;
                case RepositoryObjectKind.ExpiryRecord:
                    expiry = await ChainRepository.ReadMetadataAsync(store, o.Key, MetadataJson.Default.ExpiryMetadata,
                        RepositoryFormat.ExpiryVersion, ct).ConfigureAwait(false);
                    break;
                case RepositoryObjectKind.History:
                    history.Add(o.Key);
                    break;
                case RepositoryObjectKind.WalSegment or RepositoryObjectKind.WalPiece:
                    wal.Add(new WalObject(o.Key, key.Timeline, key.Segment, key.Offset, key.End, key.Sha256,
                        key.Kind == RepositoryObjectKind.WalPiece, o.SizeBytes));
                    break;
                case RepositoryObjectKind.BaseBackupPart or RepositoryObjectKind.BaseBackupManifest or RepositoryObjectKind.BaseBackupMetadata
                    or RepositoryObjectKind.BaseBackupMarker or RepositoryObjectKind.BaseBackupAnnotation or RepositoryObjectKind.BaseBackupOther:
                    if (!bases.TryGetValue(key.Label, out var list))
                        bases[key.Label] = list = [];
                    list.Add((o, key));
                    break;
                default:
                    unknown.Add(o.Key);
                    break;
            }
        }

        var scannedBases = new List<ScannedBaseBackup>();
        foreach (var (label, files) in bases)
        {
            var complete = files.Any(f => f.Key.Kind == RepositoryObjectKind.BaseBackupMarker);
            BaseBackupMetadata? meta = null;
            if (files.FirstOrDefault(f => f.Key.Kind == RepositoryObjectKind.BaseBackupMetadata) is { Info: { } metadataObject })
            {
                meta = await ChainRepository.ReadMetadataAsync(store, metadataObject.Key, MetadataJson.Default.BaseBackupMetadata,
                    RepositoryFormat.BaseBackupVersion, ct).ConfigureAwait(false);
            }

            BaseBackupAnnotation? annotation = null;
            if (files.FirstOrDefault(f => f.Key.Kind == RepositoryObjectKind.BaseBackupAnnotation) is { Info: { } annotationObject })
            {
                annotation = await ChainRepository.ReadMetadataAsync(store, annotationObject.Key, MetadataJson.Default.BaseBackupAnnotation,
                    RepositoryFormat.AnnotationVersion, ct).ConfigureAwait(false);
            }

            var stored = meta is null ? 0 : meta.Parts.Sum(p => p.StoredBytes) + meta.Manifest.StoredBytes + (meta.BlockMap?.StoredBytes ?? 0);
            scannedBases.Add(new ScannedBaseBackup(label, RepositoryLayout.BaseBackupPrefix(cluster, chain, label), meta, complete && meta is not null,
                stored) { Objects = [.. files.Select(f => f.Info)], Annotation = annotation });
        }

        return new ScannedChain(cluster, chain, metadata, wal, history, walBytes, scannedBases, unknown)
        {
            Expiry = expiry, Objects = [.. objects.Select(o => o.Info)],
        };
    }
}

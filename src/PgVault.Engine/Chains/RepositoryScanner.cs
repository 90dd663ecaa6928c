using System.Globalization;
using System.Text.Json;
using PgVault.Postgres;
using PgVault.Storage;

namespace PgVault.Engine.Chains;

/// <summary>A stored WAL object: a whole segment, or a piece [<see cref="Offset"/>, <see cref="End"/>) of one.</summary>
public sealed record WalObject(string Key, uint Timeline, ulong Segment, long Offset, long End, string Sha256, bool Partial, long StoredBytes);

/// <summary>A base backup as found in the repository: complete only when its marker exists.</summary>
public sealed record ScannedBaseBackup(string Label, string Prefix, BaseBackupMetadata? Metadata, bool Complete, long StoredBytes)
{
    /// <summary>Every object under the base backup's prefix (parts, manifest, metadata, marker, anything else).</summary>
    public IReadOnlyList<ObjectInfo> Objects { get; init; } = [];
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
    private long Covered(ulong segment)
    {
        if (Wal.Any(w => !w.Partial && w.Segment == segment))
            return WalSegment.DefaultSizeBytes;
        long covered = 0;
        foreach (var piece in Wal.Where(w => w.Partial && w.Segment == segment).OrderBy(w => w.Offset))
        {
            if (piece.Offset > covered)
                break;
            covered = Math.Max(covered, piece.End);
        }

        return covered;
    }

    /// <summary>The highest timeline the chain's WAL reached.</summary>
    public uint Timeline => Wal.Count > 0 ? Wal.Max(w => w.Timeline) : Metadata?.Timeline ?? 1;
}

/// <summary>Reads a repository's chains from their keys and metadata objects (the repository is the source of truth).</summary>
public static class RepositoryScanner
{
    public static async Task<IReadOnlyList<ScannedChain>> ScanAsync(IObjectStore store, string? clusterId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var prefix = clusterId is null ? "clusters/" : RepositoryLayout.ClusterPrefix(clusterId);
        var byChain = new SortedDictionary<(string Cluster, string Chain), List<ObjectInfo>>();
        await foreach (var o in store.ListAsync(prefix, ct).ConfigureAwait(false))
        {
            var parts = o.Key.Split('/');
            if (parts.Length < 5 || parts[0] != "clusters" || parts[2] != "chains")
                continue;
            var key = (parts[1], parts[3]);
            if (!byChain.TryGetValue(key, out var list))
                byChain[key] = list = [];
            list.Add(o);
        }

        var chains = new List<ScannedChain>();
        foreach (var ((cluster, chain), objects) in byChain)
            chains.Add(await ScanChainAsync(store, cluster, chain, objects, ct).ConfigureAwait(false));
        return chains;
    }

    private static async Task<ScannedChain> ScanChainAsync(IObjectStore store, string cluster, string chain, List<ObjectInfo> objects,
        CancellationToken ct)
    {
        var chainPrefix = RepositoryLayout.ChainPrefix(cluster, chain);
        ChainMetadata? metadata = null;
        ExpiryMetadata? expiry = null;
        var wal = new List<WalObject>();
        var history = new List<string>();
        var unknown = new List<string>();
        long walBytes = 0;
        var bases = new SortedDictionary<string, List<ObjectInfo>>(StringComparer.Ordinal);
        foreach (var o in objects)
        {
            var rest = o.Key[chainPrefix.Length..];
            if (rest == "chain.json")
            {
                metadata = await ReadJsonAsync(store, o.Key, MetadataJson.Default.ChainMetadata, ct).ConfigureAwait(false);
            }
            else if (rest == "expiry.json")
            {
                expiry = await ReadJsonAsync(store, o.Key, MetadataJson.Default.ExpiryMetadata, ct).ConfigureAwait(false);
            }
            else if (rest.StartsWith("wal/", StringComparison.Ordinal))
            {
                walBytes += o.SizeBytes;
                if (rest.StartsWith("wal/history/", StringComparison.Ordinal))
                    history.Add(o.Key);
                else if (TryParseWal(o, rest, out var w))
                    wal.Add(w);
                else
                    unknown.Add(o.Key);
            }
            else if (rest.StartsWith("base/", StringComparison.Ordinal) && rest.Split('/') is { Length: 3 } b)
            {
                if (!bases.TryGetValue(b[1], out var list))
                    bases[b[1]] = list = [];
                list.Add(o);
            }
            else
            {
                unknown.Add(o.Key);
            }
        }

        var scannedBases = new List<ScannedBaseBackup>();
        foreach (var (label, files) in bases)
        {
            var basePrefix = RepositoryLayout.BaseBackupPrefix(cluster, chain, label);
            var complete = files.Any(f => f.Key == RepositoryLayout.BaseBackupComplete(cluster, chain, label));
            BaseBackupMetadata? meta = null;
            if (files.Any(f => f.Key == RepositoryLayout.BaseBackupMetadata(cluster, chain, label)))
                meta = await ReadJsonAsync(store, RepositoryLayout.BaseBackupMetadata(cluster, chain, label), MetadataJson.Default.BaseBackupMetadata, ct)
                    .ConfigureAwait(false);
            var stored = meta is null ? 0 : meta.Parts.Sum(p => p.StoredBytes) + meta.Manifest.StoredBytes;
            scannedBases.Add(new ScannedBaseBackup(label, basePrefix, meta, complete && meta is not null, stored) { Objects = files });
        }

        return new ScannedChain(cluster, chain, metadata, wal, history, walBytes, scannedBases, unknown) { Expiry = expiry, Objects = objects };
    }

    private static bool TryParseWal(ObjectInfo o, string rest, out WalObject wal)
    {
        wal = null!;
        // wal/{TL}/{segment}-{sha}.zst  or  wal/{TL}/{segment}.partial/{off}-{end}-{sha}.zst
        var parts = rest.Split('/');
        if (parts.Length == 3 && RepositoryLayout.TryParseWalSegmentFile(parts[2], out var name, out var sha)
            && WalSegment.TryParse(name, out var tl, out var number))
        {
            wal = new WalObject(o.Key, tl, number, 0, WalSegment.DefaultSizeBytes, sha, Partial: false, o.SizeBytes);
            return true;
        }

        if (parts.Length == 4 && parts[2].EndsWith(".partial", StringComparison.Ordinal)
            && WalSegment.TryParse(parts[2][..24], out var ptl, out var pnumber)
            && parts[3].EndsWith(RepositoryLayout.CompressedSuffix, StringComparison.Ordinal))
        {
            var fields = parts[3][..^RepositoryLayout.CompressedSuffix.Length].Split('-');
            if (fields.Length == 3
                && long.TryParse(fields[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var off)
                && long.TryParse(fields[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var end) && fields[2].Length == 64)
            {
                wal = new WalObject(o.Key, ptl, pnumber, off, end, fields[2], Partial: true, o.SizeBytes);
                return true;
            }
        }

        return false;
    }

    private static async Task<T?> ReadJsonAsync<T>(IObjectStore store, string key, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info,
        CancellationToken ct)
    {
        var stream = await store.OpenReadAsync(key, ReadRange.All, ct).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
            return await JsonSerializer.DeserializeAsync(stream, info, ct).ConfigureAwait(false);
    }
}

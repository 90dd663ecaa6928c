using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using PgVault.Engine.Compression;
using PgVault.Engine.Storage;
using PgVault.Errors;
using PgVault.Postgres;
using PgVault.Storage;

namespace PgVault.Engine.Repository;

/// <summary>
/// One chain in the repository: the only code that writes or reads its objects (pgBackRest's <c>info/</c> plus the
/// storage calls around it). It knows the order objects must be written in (a base backup's metadata before its
/// marker; a segment whole before its pieces go), the duplicate check of WAL, and the format gate of every metadata
/// read (<see cref="RepositoryFormat"/>). Keys come from <see cref="RepositoryLayout"/> and are parsed by
/// <see cref="RepositoryKey"/>; nothing outside this folder and <c>Storage/</c> builds or parses a key.
/// </summary>
public sealed class ChainRepository
{
    /// <summary>Largest metadata object read (a <c>backup.json</c> lists parts of 1 GiB: a 64 TiB database fits in far less).</summary>
    public const int MaxMetadataBytes = 16 << 20;

    public ChainRepository(IObjectStore store, string clusterId, string chainId)
    {
        ArgumentNullException.ThrowIfNull(store);
        Store = store;
        ClusterId = clusterId;
        ChainId = chainId;
        _ = RepositoryLayout.ChainPrefix(clusterId, chainId); // checks both
    }

    public IObjectStore Store { get; }

    public string ClusterId { get; }

    public string ChainId { get; }

    /// <summary>Every chain of the repository, or of one cluster (see <see cref="RepositoryScanner"/>).</summary>
    public static Task<IReadOnlyList<ScannedChain>> ScanAsync(IObjectStore store, string? clusterId, CancellationToken ct) =>
        RepositoryScanner.ScanAsync(store, clusterId, ct);

    /// <summary>This chain as scanned, or null when the repository holds nothing of it.</summary>
    public async Task<ScannedChain?> ScanAsync(CancellationToken ct) =>
        (await RepositoryScanner.ScanAsync(Store, ClusterId, ct).ConfigureAwait(false)).FirstOrDefault(c => c.ChainId == ChainId);

    // ---- chain metadata and history

    /// <summary>Writes <c>chain.json</c> (once, when the chain starts).</summary>
    public Task WriteChainAsync(ChainMetadata metadata, CancellationToken ct) =>
        WriteBytesAsync(RepositoryLayout.Chain(ClusterId, ChainId), MetadataJson.Serialize(metadata, MetadataJson.Default.ChainMetadata), ct);

    /// <summary><c>chain.json</c>, or null when it does not exist; refused when written in a newer format.</summary>
    public async Task<ChainMetadata?> ReadChainAsync(CancellationToken ct)
    {
        try
        {
            return await ReadMetadataAsync(Store, RepositoryLayout.Chain(ClusterId, ChainId), MetadataJson.Default.ChainMetadata,
                RepositoryFormat.ChainVersion, ct).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Writes a timeline history file as the server sent it; returns the bytes stored (it counts as WAL).</summary>
    public async Task<long> WriteHistoryAsync(uint timeline, string content, CancellationToken ct) =>
        (await WriteBytesAsync(RepositoryLayout.History(ClusterId, ChainId, timeline), Encoding.UTF8.GetBytes(content), ct).ConfigureAwait(false))
        .SizeBytes;

    /// <summary>Opens a timeline history file, or null when the chain has none for <paramref name="timeline"/>.</summary>
    public async Task<Stream?> OpenHistoryAsync(uint timeline, CancellationToken ct)
    {
        var key = RepositoryLayout.History(ClusterId, ChainId, timeline);
        if (await Store.StatAsync(key, ct).ConfigureAwait(false) is null)
            return null;
        return await Store.OpenReadAsync(key, ReadRange.All, ct).ConfigureAwait(false);
    }

    /// <summary>Writes <c>expiry.json</c>: the chain's WAL starts at its <see cref="ExpiryMetadata.WalStartLsn"/> from now on.</summary>
    public Task WriteExpiryAsync(ExpiryMetadata expiry, CancellationToken ct) =>
        WriteBytesAsync(RepositoryLayout.ChainExpiry(ClusterId, ChainId), MetadataJson.Serialize(expiry, MetadataJson.Default.ExpiryMetadata), ct);

    /// <summary>Bytes stored under the chain's WAL folder (segments, pieces, history files).</summary>
    public async Task<long> WalStoredBytesAsync(CancellationToken ct)
    {
        long total = 0;
        await foreach (var o in Store.ListAsync(RepositoryLayout.WalPrefix(ClusterId, ChainId), ct).ConfigureAwait(false))
            total += o.SizeBytes;
        return total;
    }

    // ---- base backups

    /// <summary>
    /// Writes part <paramref name="index"/> of base backup <paramref name="label"/>: <paramref name="content"/> (read to its
    /// end) compressed with <paramref name="codec"/>. A part that turns out empty (and is not the first) is removed again
    /// and null returned: the tar ended exactly at the previous part's end.
    /// </summary>
    public async Task<BaseBackupPart?> WriteBaseBackupPartAsync(string label, int index, Stream content, ICompressionCodec codec, CancellationToken ct,
        bool delta = false)
    {
        var key = delta ? RepositoryLayout.BaseBackupDeltaPart(ClusterId, ChainId, label, index) : RepositoryLayout.BaseBackupPart(ClusterId, ChainId, label, index);
        var info = await Store.WriteCompressedAsync(key, content, codec, ct).ConfigureAwait(false);
        if (info.UncompressedBytes == 0 && index > 0)
        {
            await Store.DeleteAsync([key], ct).ConfigureAwait(false);
            return null;
        }

        return new BaseBackupPart(key, info.UncompressedBytes, info.CompressedBytes, info.Sha256Hex);
    }

    /// <summary>
    /// Writes the first (only) part of base backup <paramref name="label"/> as it arrives, compressed already (by the
    /// server), with the SHA-256 of the stored bytes (<see cref="BaseBackupPart.StoredChecksum"/>); its
    /// <see cref="BaseBackupPart.SizeBytes"/> is for the caller to fill in.
    /// </summary>
    public async Task<BaseBackupPart> WriteStoredBaseBackupPartAsync(string label, Stream compressed, CancellationToken ct)
    {
        var key = RepositoryLayout.BaseBackupPart(ClusterId, ChainId, label, 0);
        var hashed = Sha256Stream.ForRead(compressed, leaveOpen: true);
        await using (hashed.ConfigureAwait(false))
        {
            var stored = await Store.WriteAsync(key, hashed, ct).ConfigureAwait(false);
            if (!hashed.IsComplete)
                throw new InvalidOperationException($"the '{Store.Kind}' store returned before reading '{key}' to its end");
            if (stored.SizeBytes != hashed.Bytes)
                throw new PgVaultException(ErrorCode.ObjectCorrupt, $"object '{key}' was stored with {stored.SizeBytes} bytes, but {hashed.Bytes} were written");
            return new BaseBackupPart(key, 0, stored.SizeBytes, hashed.HashHex, StoredChecksum: true);
        }
    }

    /// <summary>Writes PostgreSQL's <c>backup_manifest</c> of base backup <paramref name="label"/>, compressed.</summary>
    public async Task<BaseBackupPart> WriteBaseBackupManifestAsync(string label, byte[] manifest, int compressionLevel, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var key = RepositoryLayout.BaseBackupManifest(ClusterId, ChainId, label);
        var (stored, sha) = await WriteSmallCompressedAsync(key, manifest, compressionLevel, ct).ConfigureAwait(false);
        return new BaseBackupPart(key, manifest.Length, stored, sha);
    }

    /// <summary>Writes base backup <paramref name="label"/>'s block map (the content of <paramref name="map"/>, read to its end), compressed.</summary>
    public async Task<BaseBackupPart> WriteBlockMapAsync(string label, Stream map, ICompressionCodec codec, CancellationToken ct)
    {
        var key = RepositoryLayout.BaseBackupBlockMap(ClusterId, ChainId, label);
        var info = await Store.WriteCompressedAsync(key, map, codec, ct).ConfigureAwait(false);
        return new BaseBackupPart(key, info.UncompressedBytes, info.CompressedBytes, info.Sha256Hex);
    }

    /// <summary>
    /// Copies a base backup's block map, decompressed and checked against its SHA-256, into the local file
    /// <paramref name="path"/> (created) and opens it.
    /// </summary>
    public async Task<BaseBackup.BlockMapFile> DownloadBlockMapAsync(BaseBackupMetadata metadata, string path, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var part = metadata.BlockMap ?? throw new PgVaultException(ErrorCode.ObjectCorrupt, $"base backup {metadata.Label} has no block map");
        var verified = await part.OpenVerifiedAsync(Store, ct).ConfigureAwait(false);
        await using (verified.ConfigureAwait(false))
        {
            var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
            await using (file.ConfigureAwait(false))
                await verified.CopyToAsync(file, ct).ConfigureAwait(false);
        }

        return BaseBackup.BlockMapFile.Open(path, part.Key);
    }

    /// <summary>
    /// Commits a base backup whose parts and manifest are stored: its metadata, then its completion marker. The marker
    /// is written last and only after the metadata: a base backup exists once its marker does (WAL-G's sentinel).
    /// </summary>
    public async Task CommitBaseBackupAsync(BaseBackupMetadata metadata, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        await WriteBytesAsync(RepositoryLayout.BaseBackupMetadata(ClusterId, ChainId, metadata.Label),
            MetadataJson.Serialize(metadata, MetadataJson.Default.BaseBackupMetadata), ct).ConfigureAwait(false);
        await WriteBytesAsync(RepositoryLayout.BaseBackupComplete(ClusterId, ChainId, metadata.Label),
            Encoding.UTF8.GetBytes(metadata.CompletedAt.ToString("O", CultureInfo.InvariantCulture)), ct).ConfigureAwait(false);
    }

    /// <summary>Writes base backup <paramref name="annotation"/>'s <c>annotation.json</c>, replacing an earlier one.</summary>
    public Task WriteAnnotationAsync(BaseBackupAnnotation annotation, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(annotation);
        var annotations = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in annotation.Annotations)
            annotations[key] = value;
        var sorted = annotation with { Annotations = annotations };
        return WriteBytesAsync(RepositoryLayout.BaseBackupAnnotation(ClusterId, ChainId, annotation.Label),
            MetadataJson.Serialize(sorted, MetadataJson.Default.BaseBackupAnnotation), ct);
    }

    /// <summary>The base backup's <c>annotation.json</c>, or null when it has none; refused when written in a newer format.</summary>
    public async Task<BaseBackupAnnotation?> ReadAnnotationAsync(string label, CancellationToken ct)
    {
        try
        {
            return await ReadMetadataAsync(Store, RepositoryLayout.BaseBackupAnnotation(ClusterId, ChainId, label), MetadataJson.Default.BaseBackupAnnotation,
                RepositoryFormat.AnnotationVersion, ct).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Every base backup's <c>annotation.json</c> of the chain, by label (one listing, then only the annotated ones read).</summary>
    public async Task<IReadOnlyDictionary<string, BaseBackupAnnotation>> ReadAnnotationsAsync(CancellationToken ct)
    {
        var annotations = new Dictionary<string, BaseBackupAnnotation>(StringComparer.Ordinal);
        await foreach (var o in Store.ListAsync(RepositoryLayout.BasePrefix(ClusterId, ChainId), ct).ConfigureAwait(false))
        {
            if (RepositoryKey.TryParse(o.Key, out var key) && key.Kind == RepositoryObjectKind.BaseBackupAnnotation
                && await ReadAnnotationAsync(key.Label, ct).ConfigureAwait(false) is { } annotation)
                annotations[key.Label] = annotation;
        }

        return annotations;
    }

    /// <summary>The base backup's <c>backup.json</c>, or null when it has none; refused when written in a newer format.</summary>
    public async Task<BaseBackupMetadata?> ReadBaseBackupAsync(string label, CancellationToken ct)
    {
        try
        {
            return await ReadMetadataAsync(Store, RepositoryLayout.BaseBackupMetadata(ClusterId, ChainId, label), MetadataJson.Default.BaseBackupMetadata,
                RepositoryFormat.BaseBackupVersion, ct).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Whether the base backup's completion marker exists (it is complete).</summary>
    public async Task<bool> IsBaseBackupCompleteAsync(string label, CancellationToken ct) =>
        await Store.StatAsync(RepositoryLayout.BaseBackupComplete(ClusterId, ChainId, label), ct).ConfigureAwait(false) is not null;

    // ---- WAL

    /// <summary>
    /// Writes bytes [<paramref name="from"/>, <paramref name="to"/>) of segment <paramref name="number"/> as a piece
    /// (<paramref name="data"/> holds exactly those bytes). Returns the bytes stored.
    /// </summary>
    public async Task<long> WriteWalPieceAsync(uint timeline, ulong number, long from, long to, ReadOnlyMemory<byte> data, int compressionLevel,
        CancellationToken ct)
    {
        if (data.Length != to - from)
            throw new ArgumentException($"a piece [{from}, {to}) holds {to - from} bytes, not {data.Length}", nameof(data));
        var sha = Convert.ToHexStringLower(SHA256.HashData(data.Span));
        var key = RepositoryLayout.WalPartial(ClusterId, ChainId, timeline, WalSegment.Name(timeline, number), from, to, sha);
        return await WriteCompressedKnownAsync(key, data, compressionLevel, ct).ConfigureAwait(false);
    }

    /// <summary>Whether segment <paramref name="number"/> has pieces in the repository.</summary>
    public async Task<bool> HasWalPiecesAsync(uint timeline, ulong number, CancellationToken ct)
    {
        await foreach (var _ in Store.ListAsync(RepositoryLayout.WalPartialPrefix(ClusterId, ChainId, timeline, WalSegment.Name(timeline, number)), ct)
                           .ConfigureAwait(false))
            return true;
        return false;
    }

    /// <summary>
    /// Stores segment <paramref name="number"/> whole (the first <see cref="WalSegment.DefaultSizeBytes"/> bytes of
    /// <paramref name="data"/>) unless the repository holds it already with the same content, then deletes its pieces.
    /// Throws <see cref="ErrorCode.WalDuplicateMismatch"/> when it holds the segment with other content. Returns the change
    /// in bytes stored (the whole object added, the pieces removed).
    /// </summary>
    public Task<long> StoreWalSegmentAsync(uint timeline, ulong number, byte[] data, int compressionLevel, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(data);
        return StoreWalSegmentAsync(timeline, number, new System.Buffers.ReadOnlySequence<byte>(data, 0, (int)WalSegment.DefaultSizeBytes),
            compressionLevel, ct);
    }

    /// <summary>As <see cref="StoreWalSegmentAsync(uint, ulong, byte[], int, CancellationToken)"/>, from a segment held in chunks.</summary>
    public async Task<long> StoreWalSegmentAsync(uint timeline, ulong number, System.Buffers.ReadOnlySequence<byte> segment, int compressionLevel,
        CancellationToken ct)
    {
        if (segment.Length != WalSegment.DefaultSizeBytes)
            throw new ArgumentException($"a WAL segment has {WalSegment.DefaultSizeBytes} bytes, not {segment.Length}", nameof(segment));
        var name = WalSegment.Name(timeline, number);
        string sha;
        using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            foreach (var memory in segment)
                hash.AppendData(memory.Span);
            sha = Convert.ToHexStringLower(hash.GetHashAndReset());
        }

        long delta = 0;
        var exists = false;
        await foreach (var existing in WholeSegmentsAsync(timeline, name, ct).ConfigureAwait(false))
        {
            if (existing.Sha256 != sha)
            {
                throw new PgVaultException(ErrorCode.WalDuplicateMismatch,
                    $"WAL segment {name} is already in the repository with other content ('{existing.Key}')",
                    "the repository may hold WAL of another cluster with the same id; check the configuration");
            }

            exists = true;
        }

        if (!exists)
            delta += await WriteCompressedKnownAsync(RepositoryLayout.WalSegment(ClusterId, ChainId, timeline, name, sha), new SequenceReadStream(segment),
                compressionLevel, ct).ConfigureAwait(false);

        // The pieces are no longer needed once the whole segment is stored.
        var pieces = new List<string>();
        await foreach (var piece in Store.ListAsync(RepositoryLayout.WalPartialPrefix(ClusterId, ChainId, timeline, name), ct).ConfigureAwait(false))
        {
            pieces.Add(piece.Key);
            delta -= piece.SizeBytes;
        }

        await Store.DeleteAsync(pieces, ct).ConfigureAwait(false);
        return delta;
    }

    /// <summary>The whole-segment object of <paramref name="segmentName"/> on <paramref name="timeline"/>, or null.</summary>
    public async Task<RepositoryKey?> FindWalSegmentAsync(uint timeline, string segmentName, CancellationToken ct)
    {
        await foreach (var key in WholeSegmentsAsync(timeline, segmentName, ct).ConfigureAwait(false))
            return key;
        return null;
    }

    /// <summary>Opens a whole segment (decompressed, verified against its SHA-256 and size at its end).</summary>
    public Task<VerifyingReadStream> OpenWalSegmentAsync(RepositoryKey segment, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(segment);
        return Store.OpenVerifiedAsync(segment.Key, ZstdCodec.Default, segment.Sha256, ct, segment.End - segment.Offset);
    }

    /// <summary>Opens a stored WAL object (a segment or a piece) as scanned, verified at its end.</summary>
    public static Task<VerifyingReadStream> OpenWalAsync(IObjectStore store, WalObject wal, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(wal);
        return store.OpenVerifiedAsync(wal.Key, ZstdCodec.Default, wal.Sha256, ct, wal.End - wal.Offset);
    }

    /// <summary>
    /// Segment <paramref name="number"/>'s bytes and how many of them the repository holds (the whole segment, or its
    /// pieces contiguous from its start; the rest zeros), or null when it holds none. Every object is checked against its
    /// SHA-256.
    /// </summary>
    public async Task<(byte[] Data, long Covered)?> ReadWalSegmentAsync(uint timeline, ulong number, CancellationToken ct)
    {
        try
        {
            return await ReadWalSegmentOnceAsync(timeline, number, ct).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            // A piece listed a moment ago is gone: the streamer has just stored the segment whole and deleted its pieces.
            return await ReadWalSegmentOnceAsync(timeline, number, ct).ConfigureAwait(false);
        }
    }

    private async Task<(byte[] Data, long Covered)?> ReadWalSegmentOnceAsync(uint timeline, ulong number, CancellationToken ct)
    {
        var name = WalSegment.Name(timeline, number);
        if (await FindWalSegmentAsync(timeline, name, ct).ConfigureAwait(false) is { } whole)
        {
            var data = new byte[WalSegment.DefaultSizeBytes];
            var verified = await OpenWalSegmentAsync(whole, ct).ConfigureAwait(false);
            await using (verified.ConfigureAwait(false))
                await verified.ReadExactlyAsync(data, ct).ConfigureAwait(false);
            return (data, data.Length);
        }

        var pieces = new List<RepositoryKey>();
        await foreach (var o in Store.ListAsync(RepositoryLayout.WalPartialPrefix(ClusterId, ChainId, timeline, name), ct).ConfigureAwait(false))
        {
            if (RepositoryKey.TryParse(o.Key, out var key) && key.Kind == RepositoryObjectKind.WalPiece)
                pieces.Add(key);
        }

        if (pieces.Count == 0)
            return null;
        var segment = new byte[WalSegment.DefaultSizeBytes];
        long covered = 0;
        foreach (var piece in pieces.OrderBy(p => p.Offset))
        {
            if (piece.Offset > covered)
                break;
            var verified = await Store.OpenVerifiedAsync(piece.Key, ZstdCodec.Default, piece.Sha256, ct, piece.End - piece.Offset).ConfigureAwait(false);
            await using (verified.ConfigureAwait(false))
                await verified.ReadExactlyAsync(segment.AsMemory((int)piece.Offset, (int)(piece.End - piece.Offset)), ct).ConfigureAwait(false);
            covered = Math.Max(covered, piece.End);
        }

        return (segment, covered);
    }

    private async IAsyncEnumerable<RepositoryKey> WholeSegmentsAsync(uint timeline, string segmentName,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var o in Store.ListAsync(RepositoryLayout.WalSegmentPrefix(ClusterId, ChainId, timeline, segmentName), ct).ConfigureAwait(false))
        {
            if (RepositoryKey.TryParse(o.Key, out var key) && key.Kind == RepositoryObjectKind.WalSegment)
                yield return key;
        }
    }

    // ---- reading and writing objects

    /// <summary>
    /// Reads a metadata object through the format gate: refused (<see cref="ErrorCode.RepositoryFormatTooNew"/>) when
    /// written in a format above <paramref name="readable"/>. Throws <see cref="ObjectNotFoundException"/> when it does
    /// not exist and <see cref="ErrorCode.ObjectCorrupt"/> when it is not the JSON of a metadata object.
    /// </summary>
    public static async Task<T> ReadMetadataAsync<T>(IObjectStore store, string key, JsonTypeInfo<T> info, int readable, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var bytes = await store.ReadAllBytesAsync(key, MaxMetadataBytes, ct).ConfigureAwait(false);
        RepositoryFormat.Check(bytes, key, readable);
        try
        {
            return JsonSerializer.Deserialize(bytes, info) ?? throw new JsonException("null");
        }
        catch (JsonException ex)
        {
            throw new PgVaultException(ErrorCode.ObjectCorrupt, $"object '{key}' is not readable metadata: {ex.Message}", inner: ex);
        }
    }

    private Task<ObjectInfo> WriteBytesAsync(string key, byte[] bytes, CancellationToken ct) => Store.WriteBytesAsync(key, bytes, ct);

    private async Task<(long Stored, string Sha256)> WriteSmallCompressedAsync(string key, ReadOnlyMemory<byte> data, int level, CancellationToken ct)
    {
        // The key may not need the checksum; the metadata does. Hashed here once, compressed without hashing again.
        var sha = Convert.ToHexStringLower(SHA256.HashData(data.Span));
        return (await WriteCompressedKnownAsync(key, data, level, ct).ConfigureAwait(false), sha);
    }

    /// <summary>
    /// Compresses <paramref name="data"/> (whose SHA-256 the caller has computed, for the key or the metadata) and writes
    /// it; returns the bytes stored. The data is not hashed again: each WAL byte is hashed once.
    /// </summary>
    private Task<long> WriteCompressedKnownAsync(string key, ReadOnlyMemory<byte> data, int level, CancellationToken ct) =>
        // Wrap the caller's buffer instead of copying it.
        WriteCompressedKnownAsync(key, System.Runtime.InteropServices.MemoryMarshal.TryGetArray(data, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(data.ToArray(), writable: false), level, ct);

    /// <summary>As <see cref="WriteCompressedKnownAsync(string, ReadOnlyMemory{byte}, int, CancellationToken)"/>, from a stream it disposes.</summary>
    private async Task<long> WriteCompressedKnownAsync(string key, Stream source, int level, CancellationToken ct)
    {
        var compressed = new CompressingReadStream(source, level == ZstdCodec.DefaultLevel ? ZstdCodec.Default : new ZstdCodec(level));
        await using (compressed.ConfigureAwait(false))
        {
            var stored = await Store.WriteAsync(key, compressed, ct).ConfigureAwait(false);
            if (!compressed.IsComplete)
                throw new InvalidOperationException($"the '{Store.Kind}' store returned before reading the content of '{key}' to its end");
            if (stored.SizeBytes != compressed.CompressedBytes)
            {
                throw new PgVaultException(ErrorCode.ObjectCorrupt,
                    $"object '{key}' was stored with {stored.SizeBytes} bytes, but {compressed.CompressedBytes} were written");
            }

            return compressed.CompressedBytes;
        }
    }
}

using System.Globalization;
using PgVault.Engine.Compression;
using PgVault.Postgres;
using PgVault.Storage;

namespace PgVault.Engine.Wal;

/// <summary>
/// One WAL segment of a chain read back from the repository: the whole segment object, or the head segment's pieces
/// (contiguous from its start; the rest is zeros, the end of the chain's WAL). Every object is checked against its SHA-256.
/// </summary>
public static class StoredSegment
{
    /// <summary>The segment's bytes and how many of them the repository holds, or null when it holds none.</summary>
    public static async Task<(byte[] Data, long Covered)?> ReadAsync(IObjectStore store, string clusterId, string chainId, uint timeline,
        ulong number, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        try
        {
            return await ReadOnceAsync(store, clusterId, chainId, timeline, number, ct).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            // A piece listed a moment ago is gone: the streamer has just stored the segment whole and deleted its pieces.
            return await ReadOnceAsync(store, clusterId, chainId, timeline, number, ct).ConfigureAwait(false);
        }
    }

    private static async Task<(byte[] Data, long Covered)?> ReadOnceAsync(IObjectStore store, string clusterId, string chainId, uint timeline,
        ulong number, CancellationToken ct)
    {
        var name = WalSegment.Name(timeline, number);
        await foreach (var o in store.ListAsync(RepositoryLayout.WalTimelinePrefix(clusterId, chainId, timeline) + name + "-", ct).ConfigureAwait(false))
        {
            if (!RepositoryLayout.TryParseWalSegmentFile(o.Key[(o.Key.LastIndexOf('/') + 1)..], out _, out var sha))
                continue;
            var data = new byte[WalSegment.DefaultSizeBytes];
            var verified = await store.OpenVerifiedAsync(o.Key, ZstdCodec.Default, sha, ct, WalSegment.DefaultSizeBytes).ConfigureAwait(false);
            await using (verified.ConfigureAwait(false))
                await verified.ReadExactlyAsync(data, ct).ConfigureAwait(false);
            return (data, data.Length);
        }

        var pieces = new List<(long From, long To, string Key, string Sha)>();
        await foreach (var o in store.ListAsync(RepositoryLayout.WalPartialPrefix(clusterId, chainId, timeline, name), ct).ConfigureAwait(false))
        {
            var fields = o.Key[(o.Key.LastIndexOf('/') + 1)..^RepositoryLayout.CompressedSuffix.Length].Split('-');
            pieces.Add((long.Parse(fields[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                long.Parse(fields[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture), o.Key, fields[2]));
        }

        if (pieces.Count == 0)
            return null;
        var segment = new byte[WalSegment.DefaultSizeBytes];
        long covered = 0;
        foreach (var piece in pieces.OrderBy(p => p.From))
        {
            if (piece.From > covered)
                break;
            var verified = await store.OpenVerifiedAsync(piece.Key, ZstdCodec.Default, piece.Sha, ct, piece.To - piece.From).ConfigureAwait(false);
            await using (verified.ConfigureAwait(false))
                await verified.ReadExactlyAsync(segment.AsMemory((int)piece.From, (int)(piece.To - piece.From)), ct).ConfigureAwait(false);
            covered = Math.Max(covered, piece.To);
        }

        return (segment, covered);
    }
}

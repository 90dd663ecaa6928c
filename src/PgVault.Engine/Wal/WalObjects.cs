using PgVault.Engine.Compression;
using PgVault.Storage;

namespace PgVault.Engine.Wal;

/// <summary>Writes small (at most one segment) objects compressed with zstd.</summary>
internal static class WalObjects
{
    /// <summary>Compresses <paramref name="data"/> and writes it; returns the stored size.</summary>
    public static async Task<long> WriteCompressedAsync(IObjectStore store, string key, ReadOnlyMemory<byte> data, int level, CancellationToken ct)
    {
        // Wrap the caller's buffer (a pooled segment) instead of copying 16 MiB.
        using var source = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(data, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(data.ToArray(), writable: false);
        var info = await store.WriteCompressedAsync(key, source, level == ZstdCodec.DefaultLevel ? ZstdCodec.Default : new ZstdCodec(level), ct)
            .ConfigureAwait(false);
        return info.CompressedBytes;
    }
}

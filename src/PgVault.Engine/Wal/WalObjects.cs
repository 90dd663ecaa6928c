using PgVault.Storage;
using ZstdSharp;

namespace PgVault.Engine.Wal;

/// <summary>Writes small (at most one segment) objects compressed with zstd.</summary>
internal static class WalObjects
{
    /// <summary>Compresses <paramref name="data"/> and writes it; returns the stored size.</summary>
    public static async Task<long> WriteCompressedAsync(IObjectStore store, string key, ReadOnlyMemory<byte> data, int level, CancellationToken ct)
    {
        byte[] compressed;
        using (var compressor = new Compressor(level))
            compressed = compressor.Wrap(data.Span).ToArray();
        using var stream = new MemoryStream(compressed, writable: false);
        var info = await store.WriteAsync(key, stream, ct).ConfigureAwait(false);
        return info.SizeBytes;
    }
}

using System.Buffers;

namespace PgVault.Engine.Wal;

/// <summary>
/// The memory of every stream's <see cref="WalSegmentBuffer"/>: chunks of <see cref="ChunkBytes"/>, taken as WAL arrives
/// and given back once it is stored (or durable, for a segment that lets go of its bytes), shared by all the clusters of
/// the process. Up to <see cref="MaxFreeChunks"/> free chunks are kept for reuse; more go to the garbage collector, so
/// what a busy moment took is given back. Thread-safe.
/// </summary>
internal static class WalMemory
{
    /// <summary>The size of a chunk: a divisor of the WAL segment size, below the large object heap's threshold.</summary>
    public const int ChunkBytes = 64 * 1024;

    /// <summary>Free chunks kept for reuse at most (32 MiB).</summary>
    public const int MaxFreeChunks = 512;

    private static readonly ArrayPool<byte> Pool = ArrayPool<byte>.Create(ChunkBytes, MaxFreeChunks);
    private static long _rented;

    /// <summary>Bytes of WAL memory in use by the buffers of the process (for metrics and tests).</summary>
    public static long RentedBytes => Interlocked.Read(ref _rented) * ChunkBytes;

    public static byte[] Rent()
    {
        Interlocked.Increment(ref _rented);
        return Pool.Rent(ChunkBytes);
    }

    public static void Return(byte[] chunk)
    {
        Interlocked.Decrement(ref _rented);
        Pool.Return(chunk);
    }
}

using System.Buffers;
using System.Runtime.InteropServices;
using PgVault.Errors;
using PgVault.Storage;

namespace PgVault.Engine.Storage;

/// <summary>
/// Helpers on top of the small <see cref="IObjectStore"/> interface (WAL-G's <c>ListFolderRecursively</c>, Litestream's
/// <c>FindLTXFiles</c>): they only use its methods, so every backend gets them for free.
/// </summary>
public static class ObjectStoreExtensions
{
    /// <summary>
    /// Reads a small object (metadata, a marker) whole. Throws <see cref="ObjectNotFoundException"/> when it does not exist,
    /// and <see cref="PgVaultException"/> (<see cref="ErrorCode.ObjectCorrupt"/>) when it is larger than
    /// <paramref name="maxBytes"/>: a metadata object that big is not what PgVault wrote.
    /// </summary>
    public static async Task<byte[]> ReadAllBytesAsync(this IObjectStore store, string key, int maxBytes, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        var stream = await store.OpenReadAsync(key, ReadRange.All, ct).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            // Grow as the data comes (the object may be smaller than its Stat said, or a stream may not know its length),
            // and read one byte past the cap to tell "exactly maxBytes" from "more".
            var capacity = (int)Math.Min(maxBytes + 1L, Array.MaxLength);
            var buffer = new byte[Math.Min(capacity, 64 * 1024)];
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length >= capacity)
                        throw TooLarge(key, maxBytes);
                    Array.Resize(ref buffer, (int)Math.Min(buffer.Length * 2L, capacity));
                }

                var n = await stream.ReadAsync(buffer.AsMemory(length), ct).ConfigureAwait(false);
                if (n == 0)
                    break;
                length += n;
            }

            if (length > maxBytes)
                throw TooLarge(key, maxBytes);
            return length == buffer.Length ? buffer : buffer[..length];
        }
    }

    /// <summary>
    /// Writes <paramref name="content"/> as the object <paramref name="key"/> (all or nothing, as <see cref="IObjectStore.WriteAsync"/>).
    /// </summary>
    public static async Task<ObjectInfo> WriteBytesAsync(
        this IObjectStore store, string key, ReadOnlyMemory<byte> content, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var stream = MemoryMarshal.TryGetArray(content, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(content.ToArray(), writable: false);
        await using (stream.ConfigureAwait(false))
            return await store.WriteAsync(key, stream, ct).ConfigureAwait(false);
    }

    private static PgVaultException TooLarge(string key, int maxBytes) =>
        new(ErrorCode.ObjectCorrupt, $"object '{key}' is larger than the {maxBytes} bytes expected of it");

    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="destination"/> through a pooled buffer of
    /// <paramref name="bufferBytes"/> and returns the number of bytes copied.
    /// </summary>
    internal static async Task<long> CopyStreamAsync(Stream source, Stream destination, int bufferBytes, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(bufferBytes);
        try
        {
            long total = 0;
            int n;
            while ((n = await source.ReadAsync(buffer.AsMemory(0, bufferBytes), ct).ConfigureAwait(false)) > 0)
            {
                await destination.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                total += n;
            }

            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

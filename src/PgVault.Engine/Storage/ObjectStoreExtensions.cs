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
    /// How many keys <see cref="DeleteByPrefixAsync"/> hands to one <see cref="IObjectStore.DeleteAsync"/> call (the S3 limit).
    /// </summary>
    public const int DeleteBatchSize = 1000;

    /// <summary>Whether the object exists.</summary>
    public static async Task<bool> ExistsAsync(this IObjectStore store, string key, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        return await store.StatAsync(key, ct).ConfigureAwait(false) is not null;
    }

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

    /// <summary>The keys of every object whose key starts with <paramref name="prefix"/>, in ordinal order.</summary>
    public static async Task<IReadOnlyList<string>> ListKeysAsync(this IObjectStore store, string prefix, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var keys = new List<string>();
        await foreach (var info in store.ListAsync(prefix, ct).ConfigureAwait(false))
            keys.Add(info.Key);
        return keys;
    }

    /// <summary>
    /// Deletes every object whose key starts with <paramref name="prefix"/>, in batches of <see cref="DeleteBatchSize"/>
    /// keys, and returns how many it deleted. The prefix must not be empty: deleting a whole repository is never a
    /// side effect of a helper.
    /// </summary>
    public static async Task<long> DeleteByPrefixAsync(this IObjectStore store, string prefix, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var batch = new List<string>(DeleteBatchSize);
        long deleted = 0;
        await foreach (var info in store.ListAsync(prefix, ct).ConfigureAwait(false))
        {
            batch.Add(info.Key);
            if (batch.Count == DeleteBatchSize)
            {
                await store.DeleteAsync(batch.ToArray(), ct).ConfigureAwait(false);
                deleted += batch.Count;
                batch.Clear();
            }
        }

        if (batch.Count > 0)
        {
            await store.DeleteAsync(batch.ToArray(), ct).ConfigureAwait(false);
            deleted += batch.Count;
        }

        return deleted;
    }

    /// <summary>
    /// Copies the object <paramref name="sourceKey"/> of <paramref name="source"/> to <paramref name="destinationKey"/> of
    /// <paramref name="destination"/> (which may be the same store), streaming it. Throws
    /// <see cref="ObjectNotFoundException"/> when the source does not exist.
    /// </summary>
    public static async Task<ObjectInfo> CopyAsync(
        this IObjectStore source, string sourceKey, IObjectStore destination, string destinationKey, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        var stream = await source.OpenReadAsync(sourceKey, ReadRange.All, ct).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
            return await destination.WriteAsync(destinationKey, stream, ct).ConfigureAwait(false);
    }

    /// <summary>Copies an object within one store.</summary>
    public static Task<ObjectInfo> CopyAsync(this IObjectStore store, string sourceKey, string destinationKey, CancellationToken ct) =>
        CopyAsync(store, sourceKey, store, destinationKey, ct);

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

using PgVault.Engine.Storage;
using PgVault.Errors;
using PgVault.Storage;

namespace PgVault.Engine.Compression;

/// <summary>What PgVault records about an object written compressed: the pair of the check done when reading it.</summary>
/// <param name="Object">The stored object (its size is the compressed size).</param>
/// <param name="Sha256Hex">SHA-256 of the uncompressed content, 64 lowercase hex digits.</param>
/// <param name="UncompressedBytes">Size of the uncompressed content.</param>
/// <param name="CompressedBytes">Size of the compressed content as written.</param>
public sealed record CompressedObjectInfo(ObjectInfo Object, string Sha256Hex, long UncompressedBytes, long CompressedBytes);

/// <summary>
/// Writing and reading compressed, checksummed objects: the stream filters of this folder around an <see cref="IObjectStore"/>.
/// </summary>
public static class CompressedObjectExtensions
{
    /// <summary>
    /// Writes the compressed content of <paramref name="source"/> (read to its end) as the object <paramref name="key"/>,
    /// all or nothing, and returns its checksum and sizes. Does not dispose <paramref name="source"/>.
    /// </summary>
    public static async Task<CompressedObjectInfo> WriteCompressedAsync(
        this IObjectStore store, string key, Stream source, ICompressionCodec codec, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var content = new CompressedContent(source, codec, leaveOpen: true);
        await using (content.ConfigureAwait(false))
        {
            var stored = await store.WriteAsync(key, content.Stream, ct).ConfigureAwait(false);
            if (!content.IsComplete)
                throw new InvalidOperationException($"the '{store.Kind}' store returned before reading the content of '{key}' to its end");
            if (stored.SizeBytes != content.CompressedBytes)
            {
                throw new PgVaultException(ErrorCode.ObjectCorrupt,
                    $"object '{key}' was stored with {stored.SizeBytes} bytes, but {content.CompressedBytes} were written");
            }

            return new CompressedObjectInfo(stored, content.Sha256Hex, content.UncompressedBytes, content.CompressedBytes);
        }
    }

    /// <summary>
    /// Opens the compressed object <paramref name="key"/> for reading its decompressed content, verified against
    /// <paramref name="expectedSha256Hex"/> (and <paramref name="expectedBytes"/> when given) when the stream reaches its
    /// end; see <see cref="VerifyingReadStream"/>. Throws <see cref="ObjectNotFoundException"/> when it does not exist.
    /// With <paramref name="storedChecksum"/> the SHA-256 and size are those of the stored bytes.
    /// </summary>
    public static async Task<VerifyingReadStream> OpenVerifiedAsync(
        this IObjectStore store, string key, ICompressionCodec codec, string expectedSha256Hex, CancellationToken ct,
        long? expectedBytes = null, bool storedChecksum = false)
    {
        ArgumentNullException.ThrowIfNull(store);
        // The SHA-256 checked here covers every byte the store would check: its own check of the transfer is left out.
        var compressed = await store.OpenReadVerifiedByCallerAsync(key, ReadRange.All, ct).ConfigureAwait(false);
        try
        {
            return new VerifyingReadStream(key, compressed, codec, expectedSha256Hex, expectedBytes, storedChecksum);
        }
        catch
        {
            await compressed.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Decompresses the object <paramref name="key"/> into <paramref name="destination"/> and verifies it; returns the
    /// number of bytes written. On <see cref="ErrorCode.ObjectCorrupt"/> what was written to the destination is not the
    /// object's content and must be discarded.
    /// </summary>
    public static async Task<long> ReadVerifiedToAsync(
        this IObjectStore store, string key, ICompressionCodec codec, string expectedSha256Hex, Stream destination,
        CancellationToken ct, long? expectedBytes = null)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var verified = await OpenVerifiedAsync(store, key, codec, expectedSha256Hex, ct, expectedBytes).ConfigureAwait(false);
        await using (verified.ConfigureAwait(false))
        {
            var total = await ObjectStoreExtensions.CopyStreamAsync(verified, destination, LocalObjectStore.CopyBufferBytes, ct)
                .ConfigureAwait(false);
            if (!verified.IsVerified)
                throw new InvalidOperationException($"object '{key}' was copied without reaching its end");
            return total;
        }
    }
}

using System.Runtime.CompilerServices;
using PgVault.Errors;
using PgVault.Storage;

namespace PgVault.Engine.Storage.Encryption;

/// <summary>
/// Client-side encryption over any <see cref="IObjectStore"/>: every object (data, WAL, metadata, markers) is stored in
/// the <see cref="EncryptionFormat"/> (AES-256-GCM in authenticated 64 KiB chunks, the key id in a header), and read
/// back with the key its header names. Streaming both ways: a write or read holds about two chunks, whatever the size.
/// </summary>
/// <remarks>
/// <para>Keys are not encrypted: names stay readable in the bucket (they hold ids, LSNs and checksums, never database
/// content).</para>
/// <para><see cref="ObjectInfo.SizeBytes"/> is the content's size, not the stored size (which is larger by 87 bytes
/// plus 16 per 64 KiB, about 0.03%): it follows from the stored size alone, so listings cost nothing extra, and the
/// engine's size accounting means the same whether a location is encrypted or not.</para>
/// <para>Reading an object that was not written through this store (no encryption header) fails with
/// <see cref="ErrorCode.ObjectCorrupt"/>: a plaintext object planted in the bucket is never taken as a backup.</para>
/// </remarks>
public sealed class EncryptingObjectStore(IObjectStore inner, EncryptionKeyRing keys) : IObjectStore
{
    private readonly IObjectStore _inner = inner ?? throw new ArgumentNullException(nameof(inner));
    private readonly EncryptionKeyRing _keys = keys ?? throw new ArgumentNullException(nameof(keys));

    /// <summary>The store holding the encrypted objects.</summary>
    public IObjectStore Inner => _inner;

    /// <inheritdoc />
    public string Kind => _inner.Kind;

    /// <inheritdoc />
    public ObjectStoreCapabilities Capabilities => _inner.Capabilities;

    /// <inheritdoc />
    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var info in _inner.ListAsync(prefix, ct).ConfigureAwait(false))
            yield return ContentInfo(info);
    }

    /// <inheritdoc />
    public async Task<ObjectInfo?> StatAsync(string key, CancellationToken ct) =>
        await _inner.StatAsync(key, ct).ConfigureAwait(false) is { } info ? ContentInfo(info) : null;

    /// <inheritdoc />
    /// <remarks>The inner store's own check of the transfer (S3: the ETag's MD5) is left out: every chunk read is
    /// authenticated by its GCM tag, with the header as associated data and the last chunk sealed as final, which finds
    /// any change, truncation or reordering of the stored bytes that MD5 would.</remarks>
    public async Task<Stream> OpenReadAsync(string key, ReadRange range, CancellationToken ct)
    {
        if (range.Offset < 0 || range.Length < 0)
            throw new ArgumentOutOfRangeException(nameof(range), range, "a read range has a non-negative offset and length");
        if (range.Offset == 0)
        {
            // From the start: one read of the stored object, its header first.
            var stream = await _inner.OpenReadVerifiedByCallerAsync(key, ReadRange.All, ct).ConfigureAwait(false);
            try
            {
                var header = await ReadHeaderAsync(stream, key, ct).ConfigureAwait(false);
                var chunkKey = EncryptionFormat.OpenHeader(header, _keys, key);
                return new DecryptingReadStream(stream, key, header, chunkKey, firstChunk: 0, skipBytes: 0, range.Length);
            }
            catch
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        // From an offset: the stored size tells where the content ends; the header is read on its own, then the
        // stored object from the chunk holding the offset.
        var info = await _inner.StatAsync(key, ct).ConfigureAwait(false) ?? throw new ObjectNotFoundException(key);
        var length = EncryptionFormat.ContentLength(info.SizeBytes);
        byte[] headerBytes;
        var headerStream = await _inner.OpenReadVerifiedByCallerAsync(key, new ReadRange(0, EncryptionFormat.HeaderBytes), ct).ConfigureAwait(false);
        await using (headerStream.ConfigureAwait(false))
            headerBytes = await ReadHeaderAsync(headerStream, key, ct).ConfigureAwait(false);
        var objectKey = EncryptionFormat.OpenHeader(headerBytes, _keys, key);
        if (range.Offset >= length || range.Length == 0)
            return Stream.Null;

        var chunk = range.Offset / EncryptionFormat.ChunkBytes;
        var body = await _inner.OpenReadVerifiedByCallerAsync(key, new ReadRange(EncryptionFormat.StoredOffsetOfChunk(chunk), null), ct).ConfigureAwait(false);
        return new DecryptingReadStream(body, key, headerBytes, objectKey, chunk, range.Offset - (chunk * EncryptionFormat.ChunkBytes),
            range.Length);
    }

    /// <inheritdoc />
    public async Task<ObjectInfo> WriteAsync(string key, Stream content, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(content);
        var encrypting = new EncryptingReadStream(content, _keys.WriteKey);
        await using (encrypting.ConfigureAwait(false))
        {
            var stored = await _inner.WriteAsync(key, encrypting, ct).ConfigureAwait(false);
            var info = ContentInfo(stored);
            if (info.SizeBytes != encrypting.ContentBytes)
            {
                throw new PgVaultException(ErrorCode.ObjectCorrupt,
                    $"object '{key}' was stored with {stored.SizeBytes} bytes, which is not the encrypted size of the " +
                    $"{encrypting.ContentBytes} bytes written");
            }

            return info;
        }
    }

    /// <inheritdoc />
    public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken ct) => _inner.DeleteAsync(keys, ct);

    private static ObjectInfo ContentInfo(ObjectInfo stored) => stored with { SizeBytes = EncryptionFormat.ContentLength(stored.SizeBytes) };

    private static async Task<byte[]> ReadHeaderAsync(Stream stream, string key, CancellationToken ct)
    {
        var header = new byte[EncryptionFormat.HeaderBytes];
        var n = await stream.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
        if (n < header.Length)
        {
            throw new PgVaultException(ErrorCode.ObjectCorrupt,
                $"object '{key}' is not encrypted by PgVault (only {n} bytes, shorter than the encryption header)");
        }

        return header;
    }
}

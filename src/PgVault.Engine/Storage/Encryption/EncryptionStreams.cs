using System.Buffers;
using System.Security.Cryptography;
using PgVault.Errors;
using PgVault.Storage;

namespace PgVault.Engine.Storage.Encryption;

/// <summary>
/// Reads as the encrypted form (<see cref="EncryptionFormat"/>) of a plaintext stream: the header, then one sealed chunk
/// at a time. Holds one chunk of plaintext (plus one byte read ahead, to know which chunk is the last) and one of output.
/// </summary>
internal sealed class EncryptingReadStream : AsyncReadOnlyStream
{
    private readonly Stream _source;
    private readonly AesGcm _aes;
    private readonly byte[] _plain = ArrayPool<byte>.Shared.Rent(EncryptionFormat.ChunkBytes + 1);
    private readonly byte[] _output = ArrayPool<byte>.Shared.Rent(Math.Max(EncryptionFormat.StoredChunkBytes, EncryptionFormat.HeaderBytes));
    private readonly byte[] _header;
    private int _plainBytes;
    private int _outputStart;
    private int _outputEnd;
    private long _chunk;
    private bool _headerSent;
    private bool _done;
    private bool _disposed;

    public EncryptingReadStream(Stream source, EncryptionKey key)
    {
        _source = source;
        (_header, var chunkKey) = EncryptionFormat.NewHeader(key);
        _aes = new AesGcm(chunkKey, EncryptionFormat.TagBytes);
        CryptographicOperations.ZeroMemory(chunkKey);
    }

    /// <summary>Plaintext bytes read from the source so far.</summary>
    public long ContentBytes { get; private set; }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read asynchronously");

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty)
            return 0;
        if (_outputStart == _outputEnd)
        {
            if (!_headerSent)
            {
                _header.CopyTo(_output, 0);
                (_outputStart, _outputEnd, _headerSent) = (0, _header.Length, true);
            }
            else if (_done)
            {
                return 0;
            }
            else
            {
                await SealNextChunkAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        var n = Math.Min(buffer.Length, _outputEnd - _outputStart);
        _output.AsSpan(_outputStart, n).CopyTo(buffer.Span);
        _outputStart += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _aes.Dispose();
            CryptographicOperations.ZeroMemory(_plain);
            ArrayPool<byte>.Shared.Return(_plain);
            ArrayPool<byte>.Shared.Return(_output);
        }

        base.Dispose(disposing);
    }

    private async Task SealNextChunkAsync(CancellationToken ct)
    {
        // Fill one chunk and one byte more: if that byte exists, this chunk is not the last.
        while (_plainBytes < EncryptionFormat.ChunkBytes + 1)
        {
            var n = await _source.ReadAsync(_plain.AsMemory(_plainBytes, EncryptionFormat.ChunkBytes + 1 - _plainBytes), ct).ConfigureAwait(false);
            if (n == 0)
                break;
            _plainBytes += n;
            ContentBytes += n;
        }

        var final = _plainBytes <= EncryptionFormat.ChunkBytes;
        var length = Math.Min(_plainBytes, EncryptionFormat.ChunkBytes);
        Span<byte> nonce = stackalloc byte[12];
        EncryptionFormat.Nonce(nonce, _chunk, final);
        _aes.Encrypt(nonce, _plain.AsSpan(0, length), _output.AsSpan(0, length), _output.AsSpan(length, EncryptionFormat.TagBytes), _header);
        (_outputStart, _outputEnd) = (0, length + EncryptionFormat.TagBytes);
        _chunk++;
        if (final)
        {
            _done = true;
            _plainBytes = 0;
        }
        else
        {
            _plain[0] = _plain[EncryptionFormat.ChunkBytes];
            _plainBytes = 1;
        }
    }
}

/// <summary>
/// Reads the content of an encrypted object from its stored chunks (starting at chunk <c>firstChunk</c>), each
/// authenticated before any of its bytes is returned. A chunk that fails (modified, reordered, spliced from another
/// object, or the stream cut at or inside a chunk) throws <see cref="ErrorCode.ObjectCorrupt"/> naming the object,
/// the chunk and the key id.
/// </summary>
internal sealed class DecryptingReadStream : AsyncReadOnlyStream
{
    private readonly Stream _inner;
    private readonly string _key;
    private readonly byte[] _header;
    private readonly string _keyId;
    private readonly AesGcm _aes;
    private readonly byte[] _stored = ArrayPool<byte>.Shared.Rent(EncryptionFormat.StoredChunkBytes + 1);
    private readonly byte[] _plain = ArrayPool<byte>.Shared.Rent(EncryptionFormat.ChunkBytes);
    private int _storedBytes;
    private int _plainStart;
    private int _plainEnd;
    private long _chunk;
    private long _skipBytes;
    private long? _remainingBytes;
    private bool _sawFinal;
    private bool _disposed;
    private bool _innerDisposed;

    public DecryptingReadStream(Stream inner, string key, byte[] header, byte[] chunkKey, long firstChunk, long skipBytes, long? lengthBytes)
    {
        _inner = inner;
        _key = key;
        _header = header;
        _keyId = System.Text.Encoding.ASCII.GetString(header, 7, header[6]);
        _aes = new AesGcm(chunkKey, EncryptionFormat.TagBytes);
        CryptographicOperations.ZeroMemory(chunkKey);
        _chunk = firstChunk;
        _skipBytes = skipBytes;
        _remainingBytes = lengthBytes;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty || _remainingBytes == 0)
            return 0;
        while (_plainStart == _plainEnd)
        {
            if (_sawFinal)
                return 0;
            await OpenNextChunkAsync(cancellationToken).ConfigureAwait(false);
            if (_skipBytes > 0)
            {
                var skip = (int)Math.Min(_skipBytes, _plainEnd - _plainStart);
                _plainStart += skip;
                _skipBytes -= skip;
            }
        }

        var n = Math.Min(buffer.Length, _plainEnd - _plainStart);
        if (_remainingBytes is { } remaining)
        {
            n = (int)Math.Min(n, remaining);
            _remainingBytes = remaining - n;
        }

        _plain.AsSpan(_plainStart, n).CopyTo(buffer.Span);
        _plainStart += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            if (!_innerDisposed)
                _inner.Dispose();
            _aes.Dispose();
            CryptographicOperations.ZeroMemory(_plain);
            ArrayPool<byte>.Shared.Return(_plain);
            ArrayPool<byte>.Shared.Return(_stored);
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed && !_innerDisposed)
        {
            _innerDisposed = true;
            await _inner.DisposeAsync().ConfigureAwait(false);
        }

        Dispose(true);
        GC.SuppressFinalize(this);
    }

    private async Task OpenNextChunkAsync(CancellationToken ct)
    {
        // One stored chunk and one byte more: if that byte exists, this chunk is not the last.
        while (_storedBytes < EncryptionFormat.StoredChunkBytes + 1)
        {
            var n = await _inner.ReadAsync(_stored.AsMemory(_storedBytes, EncryptionFormat.StoredChunkBytes + 1 - _storedBytes), ct).ConfigureAwait(false);
            if (n == 0)
                break;
            _storedBytes += n;
        }

        var final = _storedBytes <= EncryptionFormat.StoredChunkBytes;
        var sealedBytes = Math.Min(_storedBytes, EncryptionFormat.StoredChunkBytes);
        if (sealedBytes < EncryptionFormat.TagBytes)
            throw Corrupt(_storedBytes == 0 ? "it ends before its last chunk" : "its last chunk is cut short");
        var length = sealedBytes - EncryptionFormat.TagBytes;
        Span<byte> nonce = stackalloc byte[12];
        EncryptionFormat.Nonce(nonce, _chunk, final);
        try
        {
            _aes.Decrypt(nonce, _stored.AsSpan(0, length), _stored.AsSpan(length, EncryptionFormat.TagBytes), _plain.AsSpan(0, length), _header);
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw Corrupt("it was modified, truncated, reordered or spliced", ex);
        }

        (_plainStart, _plainEnd) = (0, length);
        _chunk++;
        if (final)
        {
            _sawFinal = true;
            _storedBytes = 0;
        }
        else
        {
            _stored[0] = _stored[EncryptionFormat.StoredChunkBytes];
            _storedBytes = 1;
        }
    }

    private PgVaultException Corrupt(string what, Exception? inner = null) =>
        new(ErrorCode.ObjectCorrupt, $"object '{_key}' (encrypted with key '{_keyId}') fails authentication at chunk {_chunk}: {what}",
            "the stored object is damaged or was tampered with; restore from another backup", inner);
}

using System.Security.Cryptography;

namespace PgVault.Engine.Compression;

/// <summary>
/// A pass-through stream that computes the SHA-256 and the byte count of what flows through it, in one direction: the
/// bytes read from the inner stream (<see cref="ForRead"/>) or written to it (<see cref="ForWrite"/>). The hash is final
/// once the stream is complete: when a read returned 0 (end of stream), or after <see cref="Complete"/> or disposal for
/// the write direction.
/// </summary>
public sealed class Sha256Stream : Stream
{
    private readonly Stream _inner;
    private readonly bool _read;
    private readonly bool _leaveOpen;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private string? _hashHex;
    private bool _disposed;

    private Sha256Stream(Stream inner, bool read, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _read = read;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Hashes the bytes read from <paramref name="source"/>.</summary>
    public static Sha256Stream ForRead(Stream source, bool leaveOpen = false) => new(source, read: true, leaveOpen);

    /// <summary>Hashes the bytes written to <paramref name="destination"/>.</summary>
    public static Sha256Stream ForWrite(Stream destination, bool leaveOpen = false) => new(destination, read: false, leaveOpen);

    /// <summary>The number of bytes that passed through so far.</summary>
    public long Bytes { get; private set; }

    /// <summary>Whether the hash is final (see the class remarks).</summary>
    public bool IsComplete => _hashHex is not null;

    /// <summary>The SHA-256 of everything that passed through, as 64 lowercase hex digits. Throws until complete.</summary>
    public string HashHex => _hashHex ?? throw new InvalidOperationException(
        _read ? "the SHA-256 is known once the stream has been read to its end" : "the SHA-256 is known once the stream is complete");

    /// <summary>The lowercase hex SHA-256 of <paramref name="data"/>.</summary>
    public static string HashHexOf(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(data, hash);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>Ends the write direction: nothing more will be written, the hash becomes final.</summary>
    public void Complete()
    {
        if (_hashHex is not null)
            return;
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        _hash.GetHashAndReset(hash);
        _hashHex = Convert.ToHexStringLower(hash);
    }

    public override bool CanRead => _read && !_disposed;

    public override bool CanSeek => false;

    public override bool CanWrite => !_read && !_disposed;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => Bytes;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        EnsureReadable();
        var n = _inner.Read(buffer);
        Observe(buffer[..n], atEnd: n == 0 && !buffer.IsEmpty);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        EnsureReadable();
        var n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Observe(buffer.Span[..n], atEnd: n == 0 && !buffer.IsEmpty);
        return n;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        EnsureWritable();
        _inner.Write(buffer);
        Observe(buffer, atEnd: false);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        EnsureWritable();
        await _inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        Observe(buffer.Span, atEnd: false);
    }

    public override void Flush()
    {
        if (!_read)
            _inner.Flush();
    }

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _read ? Task.CompletedTask : _inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            if (!_read)
                Complete();
            _hash.Dispose();
            if (!_leaveOpen)
                _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            if (!_read)
                Complete();
            _hash.Dispose();
            if (!_leaveOpen)
                await _inner.DisposeAsync().ConfigureAwait(false);
        }

        GC.SuppressFinalize(this);
    }

    private void Observe(ReadOnlySpan<byte> data, bool atEnd)
    {
        if (_hashHex is not null)
        {
            if (data.IsEmpty)
                return;
            throw new InvalidOperationException("bytes passed through a SHA-256 stream after its hash was final");
        }

        _hash.AppendData(data);
        Bytes += data.Length;
        if (atEnd)
            Complete();
    }

    private void EnsureReadable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_read)
            throw new NotSupportedException("this SHA-256 stream hashes writes");
    }

    private void EnsureWritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_read)
            throw new NotSupportedException("this SHA-256 stream hashes reads");
        if (_hashHex is not null)
            throw new InvalidOperationException("a SHA-256 stream cannot be written to once it is complete");
    }
}

using System.Buffers;
using System.Security.Cryptography;
using System.Threading.Channels;
using PgVault.Engine.Compression;

namespace PgVault.Engine.BaseBackup;

/// <summary>
/// A tar stream with its end-of-archive blocks (1,024 zero bytes) replaced by more members and a new end, known only
/// once the source has ended (built by <c>tail</c>): how the manifest joins the server's tar, as pg_basebackup does it.
/// </summary>
internal sealed class RetailedTarStream(Stream source, Func<CancellationToken, Task<byte[]>> tail) : Stream
{
    private const int EndBytes = 1024;
    private readonly byte[] _work = new byte[1024 * 1024 + EndBytes];
    private int _start;   // first byte of _work not handed out
    private int _end;     // end of the bytes read into _work
    private byte[]? _tail;
    private int _tailOffset;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
            return 0;
        while (_tail is null)
        {
            // Hand out all but the last 1,024 bytes read: they may be the end of the archive.
            if (_end - _start > EndBytes)
            {
                var n = Math.Min(buffer.Length, _end - _start - EndBytes);
                _work.AsSpan(_start, n).CopyTo(buffer.Span);
                _start += n;
                return n;
            }

            if (_start > 0)
            {
                Buffer.BlockCopy(_work, _start, _work, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            var read = await source.ReadAsync(_work.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (read > 0)
            {
                _end += read;
                continue;
            }

            if (_end - _start != EndBytes || _work.AsSpan(_start, EndBytes).IndexOfAnyExcept((byte)0) >= 0)
                throw new InvalidDataException("the server's tar does not end with the end-of-archive blocks");
            _start = _end;
            _tail = await tail(cancellationToken).ConfigureAwait(false);
        }

        var take = Math.Min(buffer.Length, _tail.Length - _tailOffset);
        _tail.AsSpan(_tailOffset, take).CopyTo(buffer.Span);
        _tailOffset += take;
        return take;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read asynchronously");

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>
/// Passes a compressed source through unchanged (what the store writes) while a task beside it decompresses a copy of
/// the same bytes, hashing the result and showing it to an observer: the check of a stream compressed elsewhere (the
/// server's zstd). Memory: a few chunks in flight plus the decompressor's window.
/// </summary>
internal sealed class DecompressingTee : Stream
{
    private const int ChunkBytes = 1024 * 1024;
    private readonly Stream _source;
    private readonly Channel<(byte[] Buffer, int Length)> _chunks = Channel.CreateBounded<(byte[], int)>(4);
    private readonly Task<(string Sha256Hex, long Bytes)> _check;
    private bool _ended;

    public DecompressingTee(Stream source, ICompressionCodec codec, Action<ReadOnlySpan<byte>> observe)
    {
        _source = source;
        _check = Task.Run(async () =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var decompressor = codec.CreateDecompressor(new ChannelReadStream(_chunks.Reader), leaveOpen: false);
            await using (decompressor.ConfigureAwait(false))
            {
                var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
                try
                {
                    long total = 0;
                    int n;
                    while ((n = await decompressor.ReadAsync(buffer.AsMemory(0, ChunkBytes)).ConfigureAwait(false)) > 0)
                    {
                        hash.AppendData(buffer, 0, n);
                        observe(buffer.AsSpan(0, n));
                        total += n;
                    }

                    return (Convert.ToHexStringLower(hash.GetHashAndReset()), total);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    // Unblocks the writer if decompression failed early.
                    _chunks.Writer.TryComplete();
                    while (_chunks.Reader.TryRead(out var left))
                        ArrayPool<byte>.Shared.Return(left.Buffer);
                }
            }
        });
    }

    /// <summary>Compressed bytes passed through so far.</summary>
    public long CompressedBytes { get; private set; }

    /// <summary>Once the source has been read to its end: the SHA-256 and size of its decompressed content.</summary>
    public async Task<(string Sha256Hex, long Bytes)> CompleteAsync()
    {
        if (!_ended)
            throw new InvalidOperationException("the compressed stream was not read to its end");
#pragma warning disable VSTHRD003 // the check task is this stream's own
        return await _check.ConfigureAwait(false);
#pragma warning restore VSTHRD003
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => CompressedBytes;
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await _source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (n == 0)
        {
            if (!buffer.IsEmpty && !_ended)
            {
                _ended = true;
                _chunks.Writer.TryComplete();
            }

            return 0;
        }

        var copy = ArrayPool<byte>.Shared.Rent(n);
        buffer.Span[..n].CopyTo(copy);
        try
        {
            await _chunks.Writer.WriteAsync((copy, n), cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException closed)
        {
            ArrayPool<byte>.Shared.Return(copy);
#pragma warning disable VSTHRD003 // the check task is this stream's own
            await _check.ConfigureAwait(false); // throws the decompression's error
#pragma warning restore VSTHRD003
            throw new InvalidDataException("the compressed stream has data after its end", closed);
        }

        CompressedBytes += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read asynchronously");

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override async ValueTask DisposeAsync()
    {
        _chunks.Writer.TryComplete();
        try
        {
#pragma warning disable VSTHRD003 // the check task is this stream's own
            await _check.ConfigureAwait(false);
#pragma warning restore VSTHRD003
        }
        catch (Exception) when (!_ended)
        {
            // An abandoned check (the write failed first): its error is not the one to report.
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Reads the chunks of a channel as one stream.</summary>
    private sealed class ChannelReadStream(ChannelReader<(byte[] Buffer, int Length)> reader) : Stream
    {
        private byte[]? _current;
        private int _offset;
        private int _length;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (_current is null || _offset == _length)
            {
                if (_current is not null)
                {
                    ArrayPool<byte>.Shared.Return(_current);
                    _current = null;
                }

                if (!await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                    return 0;
                if (reader.TryRead(out var chunk))
                {
                    (_current, _offset, _length) = (chunk.Buffer, 0, chunk.Length);
                }
            }

            var n = Math.Min(buffer.Length, _length - _offset);
            _current.AsSpan(_offset, n).CopyTo(buffer.Span);
            _offset += n;
            return n;
        }

        // ZstdSharp's DecompressionStream reads its source through this overload.
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read asynchronously");

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing && _current is not null)
            {
                ArrayPool<byte>.Shared.Return(_current);
                _current = null;
            }

            base.Dispose(disposing);
        }
    }
}

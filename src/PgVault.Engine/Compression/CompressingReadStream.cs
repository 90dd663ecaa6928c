using System.Buffers;

namespace PgVault.Engine.Compression;

/// <summary>
/// A read-only stream of the compressed form of a source stream: what <see cref="PgVault.Storage.IObjectStore.WriteAsync"/>
/// needs, since a store <em>reads</em> the content it is given. Each read pulls one chunk of the source through the
/// codec's compressor and hands out the compressed bytes, so memory stays bounded by a chunk, the compressor's window
/// and (with worker threads) its jobs, whatever the size of the source.
/// </summary>
public sealed class CompressingReadStream : Stream
{
    /// <summary>How much of the source one step reads and compresses.</summary>
    internal const int ChunkBytes = 256 * 1024;

    private readonly Stream _source;
    private readonly bool _leaveOpen;
    private readonly OutputBuffer _output = new();
    private readonly Stream _compressor;
    private byte[] _chunk = ArrayPool<byte>.Shared.Rent(ChunkBytes);
    private bool _sourceEnded;
    private bool _disposed;

    /// <summary>Compresses <paramref name="source"/> (read to its end) with <paramref name="codec"/>.</summary>
    public CompressingReadStream(Stream source, ICompressionCodec codec, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(codec);
        _source = source;
        _leaveOpen = leaveOpen;
        _compressor = codec.CreateCompressor(_output, leaveOpen: true);
    }

    /// <summary>The compressed bytes read from this stream so far.</summary>
    public long CompressedBytes { get; private set; }

    /// <summary>Whether the whole source was compressed and every compressed byte was read.</summary>
    public bool IsComplete => _sourceEnded && _output.Count == 0;

    /// <summary>The most compressed bytes held at once, waiting to be read (for the memory tests).</summary>
    internal int PeakBufferedBytes => _output.PeakCount;

    public override bool CanRead => !_disposed;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => CompressedBytes;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty)
            return 0;
        while (_output.Count == 0 && !_sourceEnded)
        {
            var n = _source.Read(_chunk.AsSpan(0, ChunkBytes));
            if (n > 0)
            {
                _compressor.Write(_chunk.AsSpan(0, n));
            }
            else
            {
                _sourceEnded = true;
                _compressor.Dispose();   // ends the frame: its last bytes go to the output buffer
            }
        }

        return Take(buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty)
            return 0;
        while (_output.Count == 0 && !_sourceEnded)
        {
            var n = await _source.ReadAsync(_chunk.AsMemory(0, ChunkBytes), cancellationToken).ConfigureAwait(false);
            if (n > 0)
            {
                // The compressor writes into memory: this completes synchronously, the CPU work is the compression.
                await _compressor.WriteAsync(_chunk.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                _sourceEnded = true;
                await _compressor.DisposeAsync().ConfigureAwait(false);
            }
        }

        return Take(buffer.Span);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            try
            {
                // An abandoned frame's compressor still holds native state (and with workers, threads): release it.
                if (!_sourceEnded)
                    _compressor.Dispose();
            }
            finally
            {
                ReleaseBuffers();
                if (!_leaveOpen)
                    _source.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            try
            {
                if (!_sourceEnded)
                    await _compressor.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                ReleaseBuffers();
                if (!_leaveOpen)
                    await _source.DisposeAsync().ConfigureAwait(false);
            }
        }

        GC.SuppressFinalize(this);
    }

    private int Take(Span<byte> buffer)
    {
        var n = _output.Take(buffer);
        CompressedBytes += n;
        return n;
    }

    private void ReleaseBuffers()
    {
        if (_chunk.Length > 0)
            ArrayPool<byte>.Shared.Return(_chunk);
        _chunk = [];

        _output.Release();
    }

    /// <summary>
    /// The compressor's destination: a write-only stream that keeps the compressed bytes until they are read, in one
    /// pooled array that grows to the largest burst the compressor writes between two reads.
    /// </summary>
    private sealed class OutputBuffer : Stream
    {
        private byte[] _buffer = [];
        private int _start;
        private int _end;

        public int Count => _end - _start;

        public int PeakCount { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (buffer.Length > _buffer.Length - _end)
                MakeRoom(buffer.Length);
            buffer.CopyTo(_buffer.AsSpan(_end));
            _end += buffer.Length;
            PeakCount = Math.Max(PeakCount, Count);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public int Take(Span<byte> destination)
        {
            var n = Math.Min(destination.Length, Count);
            _buffer.AsSpan(_start, n).CopyTo(destination);
            _start += n;
            if (_start == _end)
                _start = _end = 0;
            return n;
        }

        public void Release()
        {
            if (_buffer.Length > 0)
                ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
            _start = _end = 0;
        }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        private void MakeRoom(int bytes)
        {
            var count = Count;
            var needed = count + bytes;
            if (needed <= _buffer.Length)
            {
                // Enough room once the unread bytes move to the front.
                _buffer.AsSpan(_start, count).CopyTo(_buffer);
            }
            else
            {
                var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(2 * _buffer.Length, 64 * 1024)));
                _buffer.AsSpan(_start, count).CopyTo(larger);
                if (_buffer.Length > 0)
                    ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = larger;
            }

            _start = 0;
            _end = count;
        }
    }
}

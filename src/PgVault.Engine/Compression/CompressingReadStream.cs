using System.Buffers;
using PgVault.Storage;

namespace PgVault.Engine.Compression;

/// <summary>
/// A read-only stream of the compressed form of a source stream: what <see cref="PgVault.Storage.IObjectStore.WriteAsync"/>
/// needs, since a store <em>reads</em> the content it is given. Each read pulls one chunk of the source through the
/// codec's compressor and hands out the compressed bytes, so memory stays bounded by a chunk, the compressor's window
/// and (with worker threads) its jobs, whatever the size of the source.
/// </summary>
public sealed class CompressingReadStream : ReadOnlyStream
{
    /// <summary>How much of the source one step reads and compresses.</summary>
    internal const int ChunkBytes = 256 * 1024;

    private readonly Stream _source;
    private readonly bool _leaveOpen;
    private readonly OutputBuffer _output = new();
    private readonly Stream _compressor;
    private byte[] _chunk = ArrayPool<byte>.Shared.Rent(ChunkBytes);
    private bool _sourceEnded;
    private bool _frameEnded;
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
    public bool IsComplete => _frameEnded && _output.Count == 0;

    /// <summary>The most compressed bytes held at once, waiting to be read (for the memory tests).</summary>
    internal int PeakBufferedBytes => _output.PeakCount;

    public override bool CanRead => !_disposed;

    public override long Position
    {
        get => CompressedBytes;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var taken = Take(buffer);
        while (taken < buffer.Length && !_sourceEnded)
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
                _frameEnded = true;
            }

            taken += Take(buffer[taken..]);
        }

        return taken;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);

        // Fill the caller's buffer (the stores copy in large blocks): compress chunk after chunk, handing out the output
        // as it comes, so no more than one chunk's output waits in memory.
        var taken = Take(buffer.Span);
        while (taken < buffer.Length && !_sourceEnded)
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
                _frameEnded = true;
            }

            taken += Take(buffer.Span[taken..]);
        }

        return taken;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            try
            {
                // An abandoned frame's compressor still holds native state (and with workers, threads): release it.
                if (!_frameEnded)
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
                if (!_frameEnded)
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
    /// The compressor's destination: a write-only stream that keeps the compressed bytes until they are read, in a queue
    /// of pooled fixed-size segments (so a burst, such as a finished zstd job, never needs one large array). Drained
    /// segments are kept for the next burst and go back to the pool only on release, so a long stream allocates its peak
    /// once rather than on every burst.
    /// </summary>
    private sealed class OutputBuffer : Stream
    {
        private const int SegmentBytes = 128 * 1024;

        private readonly Queue<byte[]> _segments = new();
        private readonly Stack<byte[]> _free = new();
        private byte[]? _tail;       // the segment being written (also in _segments)
        private int _headOffset;     // read position in the first segment
        private int _tailLength;     // bytes written into _tail

        public int Count { get; private set; }

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
            while (!buffer.IsEmpty)
            {
                if (_tail is null || _tailLength == SegmentBytes)
                {
                    _tail = _free.TryPop(out var reused) ? reused : ArrayPool<byte>.Shared.Rent(SegmentBytes);
                    _tailLength = 0;
                    _segments.Enqueue(_tail);
                }

                var n = Math.Min(buffer.Length, SegmentBytes - _tailLength);
                buffer[..n].CopyTo(_tail.AsSpan(_tailLength));
                _tailLength += n;
                Count += n;
                buffer = buffer[n..];
            }

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
            var taken = 0;
            while (taken < destination.Length && Count > 0)
            {
                var head = _segments.Peek();
                var headLength = ReferenceEquals(head, _tail) ? _tailLength : SegmentBytes;
                var n = Math.Min(destination.Length - taken, headLength - _headOffset);
                head.AsSpan(_headOffset, n).CopyTo(destination[taken..]);
                taken += n;
                _headOffset += n;
                Count -= n;
                if (_headOffset == headLength)
                {
                    _free.Push(_segments.Dequeue());
                    _headOffset = 0;
                    if (ReferenceEquals(head, _tail))
                    {
                        _tail = null;
                        _tailLength = 0;
                    }
                }
            }

            return taken;
        }

        public void Release()
        {
            while (_segments.TryDequeue(out var segment))
                ArrayPool<byte>.Shared.Return(segment);
            while (_free.TryPop(out var segment))
                ArrayPool<byte>.Shared.Return(segment);
            _tail = null;
            _tailLength = _headOffset = 0;
            Count = 0;
        }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}

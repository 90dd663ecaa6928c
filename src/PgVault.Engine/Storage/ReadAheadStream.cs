using System.Buffers;
using System.Threading.Channels;
using PgVault.Storage;

namespace PgVault.Engine.Storage;

/// <summary>
/// Reads its source ahead on a task of its own, into a small bounded queue of chunks, so that reading the source (and
/// whatever the source does per byte: hashing, decrypting, the network) runs beside the consumer (a decompressor)
/// instead of in turn with it. Memory: at most <c>depth</c> + 1 chunks. A failure of the source is thrown to the
/// reader, in order, after the chunks read before it. Disposing it stops the reading and disposes the source.
/// </summary>
internal sealed class ReadAheadStream : ReadOnlyStream
{
    private readonly Stream _source;
    private readonly Channel<(byte[] Buffer, int Length)> _chunks;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _pump;
    private readonly int _chunkBytes;
    private byte[]? _current;
    private int _offset;
    private int _length;
    private bool _ended;
    private bool _disposed;

    public ReadAheadStream(Stream source, int chunkBytes = 1 << 20, int depth = 4)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        _source = source;
        _chunkBytes = chunkBytes;
        _chunks = Channel.CreateBounded<(byte[], int)>(new BoundedChannelOptions(depth) { SingleReader = true, SingleWriter = true });
        _pump = Task.Run(PumpAsync);
    }

    private async Task PumpAsync()
    {
        Exception? failure = null;
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(_chunkBytes);
                int n;
                try
                {
                    n = await _source.ReadAtLeastAsync(buffer.AsMemory(0, _chunkBytes), _chunkBytes, throwOnEndOfStream: false, _stop.Token)
                        .ConfigureAwait(false);
                    if (n > 0)
                        await _chunks.Writer.WriteAsync((buffer, n), _stop.Token).ConfigureAwait(false);
                }
                catch
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    throw;
                }

                if (n < _chunkBytes)
                {
                    if (n == 0)
                        ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        finally
        {
            _chunks.Writer.TryComplete(failure);
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (!NextAsync(blocking: true).IsCompletedSuccessfully)
            throw new InvalidOperationException("unreachable: a blocking wait completes");
        return Take(buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await NextAsync(blocking: false, cancellationToken).ConfigureAwait(false);
        return Take(buffer.Span);
    }

    /// <summary>Makes <see cref="_current"/> hold unread bytes, unless the source has ended.</summary>
    private ValueTask NextAsync(bool blocking, CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_offset < _length || _ended)
            return ValueTask.CompletedTask;
        Release();
        if (_chunks.Reader.TryRead(out var chunk))
        {
            Hold(chunk);
            return ValueTask.CompletedTask;
        }

        if (blocking)
        {
            // A synchronous reader (some decoders read their source synchronously) waits for the pump: a thread-pool task
            // that never needs this thread.
#pragma warning disable VSTHRD002, VSTHRD103
            WaitAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002, VSTHRD103
            return ValueTask.CompletedTask;
        }

        return WaitAsync(ct);
    }

    private async ValueTask WaitAsync(CancellationToken ct)
    {
        try
        {
            Hold(await _chunks.Reader.ReadAsync(ct).ConfigureAwait(false));
        }
        catch (ChannelClosedException closed)
        {
            _ended = true;
            if (closed.InnerException is { } failure)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    private void Hold((byte[] Buffer, int Length) chunk)
    {
        _current = chunk.Buffer;
        _offset = 0;
        _length = chunk.Length;
    }

    private int Take(Span<byte> buffer)
    {
        if (_offset >= _length)
            return 0;
        var n = Math.Min(buffer.Length, _length - _offset);
        _current.AsSpan(_offset, n).CopyTo(buffer);
        _offset += n;
        return n;
    }

    private void Release()
    {
        if (_current is not null)
            ArrayPool<byte>.Shared.Return(_current);
        _current = null;
        _offset = _length = 0;
    }

    /// <summary>Once the pump has stopped: the chunk held and the queued ones go back to the pool.</summary>
    private void ReturnBuffers()
    {
        Release();
        while (_chunks.Reader.TryRead(out var chunk))
            ArrayPool<byte>.Shared.Return(chunk.Buffer);
        _stop.Dispose();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _stop.Cancel();
            try
            {
#pragma warning disable VSTHRD002 // the pump is this stream's own thread-pool task; cancelled, it ends promptly and never throws
                _pump.GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
            }
            finally
            {
                ReturnBuffers();
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
            await _stop.CancelAsync().ConfigureAwait(false);
            try
            {
#pragma warning disable VSTHRD003 // the pump is this stream's own task
                await _pump.ConfigureAwait(false);
#pragma warning restore VSTHRD003
            }
            finally
            {
                ReturnBuffers();
                await _source.DisposeAsync().ConfigureAwait(false);
            }
        }

        GC.SuppressFinalize(this);
    }
}

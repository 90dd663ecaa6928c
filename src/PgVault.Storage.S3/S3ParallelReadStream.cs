using System.Buffers;
using System.Security.Cryptography;
using Amazon.S3.Model;
using PgVault.Errors;

namespace PgVault.Storage.S3;

/// <summary>
/// A whole-object read of a large object as ranged GETs of one part size each, up to
/// <see cref="S3ObjectStoreOptions.ReadConcurrency"/> of them in flight ahead of the reader (the way S3 is read fast:
/// one connection's throughput is limited, and the TLS and hashing of each range run on their own thread). The bytes
/// come out in order. Every range is pinned to the first response's ETag and resumed on its own when its connection
/// fails (<see cref="S3ReadStream"/>). Memory: at most ReadConcurrency + 1 buffers of the part size.
/// With a check, the object is checked against its ETag at the end; when the ranges are the object's upload parts
/// (the part size it records is this store's), each range's MD5 is computed by the task that fetched it.
/// </summary>
internal sealed class S3ParallelReadStream : AsyncReadOnlyStream
{
    private readonly S3ObjectStore _store;
    private readonly string _key;
    private readonly string? _etag;
    private readonly long _length;
    private readonly int _rangeBytes;
    private readonly int _depth;
    private readonly ArrayPool<byte> _buffers;
    private readonly ETagCheck? _check;
    private readonly bool _rangesAreParts;
    private readonly Queue<Task<Range>> _ahead = new();
    private readonly CancellationTokenSource _stop = new();
    private long _nextStart;
    private Task<Range>? _waiting;
    private Range? _current;
    private int _currentOffset;
    private bool _disposed;

    /// <summary>Starts reading the object <paramref name="key"/> of <paramref name="store"/>.</summary>
    /// <param name="store">The store, for its ranged GETs.</param>
    /// <param name="key">The object's key in the store.</param>
    /// <param name="first">The response to a GET of the object's first <paramref name="rangeBytes"/> bytes.</param>
    /// <param name="length">The object's size (from that response's Content-Range), more than <paramref name="rangeBytes"/>.</param>
    /// <param name="rangeBytes">Bytes per ranged GET (the store's part size).</param>
    /// <param name="depth">Ranged GETs in flight ahead of the reader.</param>
    /// <param name="buffers">Where the ranges' buffers come from (arrays of <paramref name="rangeBytes"/>).</param>
    /// <param name="verify">Whether to check the object against its ETag at the end.</param>
    public S3ParallelReadStream(S3ObjectStore store, string key, GetObjectResponse first, long length, int rangeBytes, int depth,
        ArrayPool<byte> buffers, bool verify)
    {
        _store = store;
        _key = key;
        _etag = first.ETag;
        _length = length;
        _rangeBytes = rangeBytes;
        _depth = Math.Max(1, depth);
        _buffers = buffers;
        if (verify)
        {
            _check = ETagCheck.For(_etag, first.Metadata[S3ObjectStore.PartSizeMetadata]);
            _rangesAreParts = _check is { PartSizeBytes: var p } && p == rangeBytes;
        }

        _ahead.Enqueue(FetchAsync(0, (int)Math.Min(rangeBytes, length), first, _stop.Token));
        _nextStart = Math.Min(rangeBytes, length);
        FillAhead();
    }

    public override bool CanRead => !_disposed;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty)
            return 0;
        if (_current is null || _currentOffset == _current.Length)
        {
            ReturnCurrent();
            // The range waited for last, if that wait did not end with it (the caller cancelled, or the range failed:
            // waiting again fails again, so nothing after a lost range is read as if it followed), else the next one.
            var next = _waiting;
            if (next is null && !_ahead.TryDequeue(out next))
            {
                Verify();
                return 0;
            }

            _waiting = next;
            _current = await next.WaitAsync(cancellationToken).ConfigureAwait(false);
            _waiting = null;
            _currentOffset = 0;
            if (_current.Md5 is { } md5)
                _check!.AddPartMd5(md5);
            else
                _check?.Append(_current.Buffer.AsSpan(0, _current.Length));
            FillAhead();
        }

        var n = Math.Min(buffer.Length, _current.Length - _currentOffset);
        _current.Buffer.AsSpan(_currentOffset, n).CopyTo(buffer.Span);
        _currentOffset += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _stop.Cancel();
            ReturnCurrent();
            // Ranges still in flight give their buffers back when they end (they stop at the cancellation).
            if (_waiting is not null)
                _ahead.Enqueue(_waiting);
            while (_ahead.TryDequeue(out var pending))
            {
                _ = pending.ContinueWith(static (t, state) =>
                {
                    if (t.IsCompletedSuccessfully)
                        ((ArrayPool<byte>)state!).Return(t.Result.Buffer);
                    else
                        _ = t.Exception;   // observed: the reader stopped before it
                }, _buffers, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            // _stop is not disposed: the ranges still in flight may yet link to its token (it holds no timer).
            _check?.Dispose();
        }

        base.Dispose(disposing);
    }

    private void FillAhead()
    {
        while (_ahead.Count < _depth && _nextStart < _length)
        {
            var count = (int)Math.Min(_rangeBytes, _length - _nextStart);
            _ahead.Enqueue(FetchAsync(_nextStart, count, null, _stop.Token));
            _nextStart += count;
        }
    }

    private async Task<Range> FetchAsync(long start, int count, GetObjectResponse? response, CancellationToken ct)
    {
        await Task.Yield();   // the range's request, TLS and hashing run off the reader's thread
        var buffer = _buffers.Rent(count);
        try
        {
            response ??= await _store.GetAsync(_key, start, count, _etag, ct).ConfigureAwait(false) ?? throw Shorter();
            var filled = 0;
            var body = new S3ReadStream(_store, _key, response, start, count, verify: false);
            await using (body.ConfigureAwait(false))
            {
                while (filled < count)
                {
                    var n = await body.ReadAsync(buffer.AsMemory(filled, count - filled), ct).ConfigureAwait(false);
                    if (n == 0)
                        throw Shorter();
                    filled += n;
                }
            }

            return new Range(buffer, count, _rangesAreParts ? MD5.HashData(buffer.AsSpan(0, count)) : null);
        }
        catch
        {
            response?.Dispose();
            _buffers.Return(buffer);
            throw;
        }
    }

    private PgVaultException Shorter() =>
        new(ErrorCode.ObjectCorrupt, $"object '{_key}' in {_store.Describe()} became shorter than its {_length} bytes while it was read");

    private void ReturnCurrent()
    {
        if (_current is null)
            return;
        _buffers.Return(_current.Buffer);
        _current = null;
    }

    private void Verify() => _check?.Verify(_key, _store.Describe());

    private sealed record Range(byte[] Buffer, int Length, byte[]? Md5);
}

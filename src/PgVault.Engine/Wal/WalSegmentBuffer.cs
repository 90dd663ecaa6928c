using System.Buffers;
using PgVault.Errors;
using PgVault.Postgres;

namespace PgVault.Engine.Wal;

/// <summary>
/// The WAL of one replication session held in memory until it is stored: the segment being received and the finished
/// (sealed) segments not yet stored whole, oldest first. The receiver appends; the <see cref="WalFlusher"/> takes the
/// bytes not yet durable; the <see cref="WalArchiver"/> releases a segment once it is stored whole. Memory is bounded:
/// the receiver waits when <see cref="WalStreamer.MaxQueuedSegments"/> sealed segments wait for the archiver besides
/// the one it is storing (backpressure). Thread-safe.
/// </summary>
internal sealed class WalSegmentBuffer : IDisposable
{
    private readonly Lock _lock = new();
    private readonly List<WalBufferedSegment> _sealed = [];
    private readonly SemaphoreSlim _room = new(WalStreamer.MaxQueuedSegments + 1);
    private readonly CancellationTokenSource _closed = new();
    private WalBufferedSegment _segment;

    public WalSegmentBuffer(Lsn start) => _segment = new WalBufferedSegment(WalSegment.Number(start));

    /// <summary>The end of the WAL received.</summary>
    public Lsn ReceivedEnd
    {
        get
        {
            lock (_lock)
                return WalSegment.Start(_segment.Number) + _segment.Written;
        }
    }

    /// <summary>
    /// Appends the WAL <paramref name="data"/> that starts at <paramref name="walStart"/> (which must be the end received
    /// so far: anything else is a gap). Calls <paramref name="sealedSegment"/> for each segment it fills, then waits for
    /// room when the archiver is behind.
    /// </summary>
    public async Task AppendAsync(Lsn walStart, Stream data, Action sealedSegment, CancellationToken ct)
    {
        var expected = ReceivedEnd;
        if (walStart != expected)
            throw new PgVaultException(ErrorCode.WalStreamFailed, $"WAL gap: the server sent data at {walStart}, expected {expected}");

        var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (true)
            {
                WalBufferedSegment segment;
                int room;
                lock (_lock)
                {
                    segment = _segment;
                    room = (int)WalSegment.DefaultSizeBytes - segment.Written;
                }

                var read = await data.ReadAsync(chunk.AsMemory(0, Math.Min(chunk.Length, room)), ct).ConfigureAwait(false);
                if (read == 0)
                    break;
                lock (_lock)
                {
                    Buffer.BlockCopy(chunk, 0, segment.Data, segment.Written, read);
                    segment.Written += read;
                    if (segment.Written == WalSegment.DefaultSizeBytes)
                    {
                        _sealed.Add(segment);
                        _segment = new WalBufferedSegment(segment.Number + 1);
                    }
                }

                if (segment.Written == WalSegment.DefaultSizeBytes)
                {
                    sealedSegment();
                    using var waiting = CancellationTokenSource.CreateLinkedTokenSource(ct, _closed.Token);
                    await _room.WaitAsync(waiting.Token).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>
    /// The oldest bytes not yet durable (a sealed segment's tail before the segment being received), copied; false when
    /// everything received is durable.
    /// </summary>
    public bool TryTakeUnflushed(out WalBufferedSegment segment, out int from, out byte[] bytes)
    {
        lock (_lock)
        {
            var next = _sealed.FirstOrDefault(s => s.Flushed < s.Written);
            if (next is null && _segment.Flushed < _segment.Written)
                next = _segment;
            if (next is null)
            {
                segment = null!;
                from = 0;
                bytes = [];
                return false;
            }

            segment = next;
            from = next.Flushed;
            bytes = next.Data.AsSpan(from, next.Written - from).ToArray();
            return true;
        }
    }

    /// <summary>Records that <paramref name="segment"/> is durable up to <paramref name="to"/>; true when that is its last byte.</summary>
    public bool MarkFlushed(WalBufferedSegment segment, int to)
    {
        lock (_lock)
            segment.Flushed = Math.Max(segment.Flushed, to);
        return to == WalSegment.DefaultSizeBytes;
    }

    /// <summary>The archiver stored <paramref name="segment"/> whole: its memory is free, and the receiver may seal another.</summary>
    public void Release(WalBufferedSegment segment)
    {
        lock (_lock)
        {
            if (!_sealed.Remove(segment))
                return;
        }

        segment.Dispose();
        _room.Release();
    }

    /// <summary>No archiver will release segments any more (it failed): a receiver waiting for room stops waiting.</summary>
    public void Close() => _closed.Cancel();

    public void Dispose()
    {
        lock (_lock)
        {
            _segment.Dispose();
            foreach (var segment in _sealed)
                segment.Dispose();
            _sealed.Clear();
        }

        _closed.Dispose();
        _room.Dispose();
    }
}

/// <summary>One segment's bytes in a <see cref="WalSegmentBuffer"/>: how much was received, and how much of it is durable.</summary>
internal sealed class WalBufferedSegment(ulong number) : IDisposable
{
    public ulong Number { get; } = number;

    public byte[] Data { get; } = ArrayPool<byte>.Shared.Rent((int)WalSegment.DefaultSizeBytes);

    /// <summary>Bytes received (under the buffer's lock).</summary>
    public int Written { get; set; }

    /// <summary>Bytes durable as pieces (under the buffer's lock).</summary>
    public int Flushed { get; set; }

    public void Dispose() => ArrayPool<byte>.Shared.Return(Data);
}

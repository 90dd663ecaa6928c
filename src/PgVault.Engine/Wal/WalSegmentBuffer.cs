using System.Buffers;
using PgVault.Configuration;
using PgVault.Errors;
using PgVault.Postgres;

namespace PgVault.Engine.Wal;

/// <summary>
/// The WAL of one replication session held in memory until it is stored: the segment being received and the finished
/// (sealed) segments not yet stored whole, oldest first. The receiver appends; the <see cref="WalFlusher"/> takes the
/// bytes not yet durable; the <see cref="WalArchiver"/> releases a segment once it is stored whole. Memory is taken in
/// chunks (<see cref="WalMemory"/>) as WAL arrives, and bounded: the receiver waits when
/// <see cref="WalStreamer.MaxQueuedSegments"/> sealed segments wait for the archiver besides the one it is storing
/// (backpressure). The segment being received lets go of its durable bytes once it has been open longer than the hold
/// (<see cref="EngineOptions.WalSegmentMemoryHold"/>): a quiet cluster holds only WAL not yet durable, and the archiver
/// stores such a segment from its pieces. Thread-safe.
/// </summary>
internal sealed class WalSegmentBuffer : IDisposable
{
    private readonly Lock _lock = new();
    private readonly List<WalBufferedSegment> _sealed = [];
    private readonly SemaphoreSlim _room = new(WalStreamer.MaxQueuedSegments + 1);
    private readonly CancellationTokenSource _closed = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _hold;
    private WalBufferedSegment _segment;

    /// <param name="start">Where the session starts (a segment start).</param>
    /// <param name="time">The clock the hold is measured with.</param>
    /// <param name="hold">How long the segment being received keeps its durable bytes (see <see cref="EngineOptions.WalSegmentMemoryHold"/>).</param>
    public WalSegmentBuffer(Lsn start, TimeProvider time, TimeSpan hold)
    {
        _time = time;
        _hold = hold;
        _segment = new WalBufferedSegment(WalSegment.Number(start), time.GetUtcNow());
    }

    /// <summary>The end of the WAL received.</summary>
    public Lsn ReceivedEnd
    {
        get
        {
            lock (_lock)
                return WalSegment.Start(_segment.Number) + _segment.Written;
        }
    }

    /// <summary>The bytes of WAL memory this buffer holds (chunks of the segment being received and of the sealed ones).</summary>
    public long HeldBytes
    {
        get
        {
            lock (_lock)
                return _segment.HeldBytes + _sealed.Sum(s => s.HeldBytes);
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
                bool full;
                lock (_lock)
                {
                    segment.Write(chunk.AsSpan(0, read));
                    full = segment.Written == WalSegment.DefaultSizeBytes;
                    if (full)
                    {
                        _sealed.Add(segment);
                        _segment = new WalBufferedSegment(segment.Number + 1, _time.GetUtcNow());
                    }
                }

                if (full)
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
            bytes = next.Copy(from, next.Written);
            return true;
        }
    }

    /// <summary>Records that <paramref name="segment"/> is durable up to <paramref name="to"/>; true when that is its last byte.</summary>
    public bool MarkFlushed(WalBufferedSegment segment, int to)
    {
        lock (_lock)
        {
            segment.Flushed = Math.Max(segment.Flushed, to);
            if (segment.Spilled)
                segment.ReleaseDurable();
        }

        return to == WalSegment.DefaultSizeBytes;
    }

    /// <summary>
    /// Lets the segment being received go of its durable bytes once it has been open longer than the hold (from then on
    /// it holds only what is not yet durable, and is stored from its pieces); the flusher calls it after each flush.
    /// </summary>
    public void Trim()
    {
        lock (_lock)
        {
            if (!_segment.Spilled && _time.GetUtcNow() - _segment.OpenedAt >= _hold)
                _segment.Spill();
        }
    }

    /// <summary>The archiver stored <paramref name="segment"/> whole: its memory is free, and the receiver may seal another.</summary>
    public void Release(WalBufferedSegment segment)
    {
        lock (_lock)
        {
            if (!_sealed.Remove(segment))
                return;
            segment.Dispose();
        }

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

/// <summary>
/// One segment's bytes in a <see cref="WalSegmentBuffer"/>, in chunks taken from <see cref="WalMemory"/> as they arrive:
/// how much was received, and how much of it is durable. Once <see cref="Spilled"/> it holds only what is not yet durable.
/// Changed only under the buffer's lock.
/// </summary>
internal sealed class WalBufferedSegment(ulong number, DateTimeOffset openedAt) : IDisposable
{
    private const int Chunks = (int)(WalSegment.DefaultSizeBytes / WalMemory.ChunkBytes);
    private readonly byte[]?[] _chunks = new byte[]?[Chunks];
    private int _held;

    public ulong Number { get; } = number;

    /// <summary>When the segment was opened (its first byte could arrive).</summary>
    public DateTimeOffset OpenedAt { get; } = openedAt;

    /// <summary>Bytes received.</summary>
    public int Written { get; private set; }

    /// <summary>Bytes durable as pieces.</summary>
    public int Flushed { get; set; }

    /// <summary>
    /// Its durable bytes were let go (it was open longer than the hold): the archiver stores it whole from its pieces in
    /// the repository, not from memory.
    /// </summary>
    public bool Spilled { get; private set; }

    /// <summary>The bytes of the chunks it holds.</summary>
    public long HeldBytes => (long)_held * WalMemory.ChunkBytes;

    /// <summary>Appends <paramref name="data"/> at <see cref="Written"/>, taking chunks as needed.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        if (data.Length > WalSegment.DefaultSizeBytes - Written)
            throw new ArgumentOutOfRangeException(nameof(data), $"{data.Length} bytes do not fit in WAL segment {Number} after {Written}");
        while (!data.IsEmpty)
        {
            var index = Written / WalMemory.ChunkBytes;
            var offset = Written % WalMemory.ChunkBytes;
            var chunk = _chunks[index];
            if (chunk is null)
            {
                _chunks[index] = chunk = WalMemory.Rent();
                _held++;
            }

            var n = Math.Min(WalMemory.ChunkBytes - offset, data.Length);
            data[..n].CopyTo(chunk.AsSpan(offset, n));
            data = data[n..];
            Written += n;
        }
    }

    /// <summary>A copy of the bytes [<paramref name="from"/>, <paramref name="to"/>), which it must hold.</summary>
    public byte[] Copy(int from, int to)
    {
        var bytes = new byte[to - from];
        for (var at = from; at < to;)
        {
            var chunk = _chunks[at / WalMemory.ChunkBytes]
                        ?? throw new InvalidOperationException($"WAL segment {Number}: bytes at {at} are not held");
            var offset = at % WalMemory.ChunkBytes;
            var n = Math.Min(WalMemory.ChunkBytes - offset, to - at);
            chunk.AsSpan(offset, n).CopyTo(bytes.AsSpan(at - from));
            at += n;
        }

        return bytes;
    }

    /// <summary>The whole segment, as held (not <see cref="Spilled"/>, all received): for the archiver.</summary>
    public ReadOnlySequence<byte> Content()
    {
        if (Spilled || Written != WalSegment.DefaultSizeBytes)
            throw new InvalidOperationException($"WAL segment {Number} is not held whole");
        WalChunk? first = null;
        WalChunk? last = null;
        foreach (var chunk in _chunks)
        {
            var next = new WalChunk(chunk!, last);
            first ??= next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, WalMemory.ChunkBytes);
    }

    /// <summary>From now on holds only what is not yet durable.</summary>
    public void Spill()
    {
        Spilled = true;
        ReleaseDurable();
    }

    /// <summary>Gives back the chunks that hold only durable bytes (all of them when everything received is durable).</summary>
    public void ReleaseDurable()
    {
        var upTo = Flushed == Written ? Chunks : Flushed / WalMemory.ChunkBytes;
        for (var i = 0; i < upTo; i++)
        {
            if (_chunks[i] is { } chunk)
            {
                WalMemory.Return(chunk);
                _chunks[i] = null;
                _held--;
            }
        }
    }

    public void Dispose()
    {
        for (var i = 0; i < Chunks; i++)
        {
            if (_chunks[i] is { } chunk)
            {
                WalMemory.Return(chunk);
                _chunks[i] = null;
            }
        }

        _held = 0;
    }

    /// <summary>One chunk of a segment's <see cref="Content"/>.</summary>
    private sealed class WalChunk : ReadOnlySequenceSegment<byte>
    {
        public WalChunk(byte[] chunk, WalChunk? previous)
        {
            Memory = chunk;
            if (previous is not null)
            {
                RunningIndex = previous.RunningIndex + previous.Memory.Length;
                previous.Next = this;
            }
        }
    }
}

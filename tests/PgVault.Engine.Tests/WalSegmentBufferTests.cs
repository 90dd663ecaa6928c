using System.Buffers;
using System.Security.Cryptography;
using PgVault.Engine.Wal;
using PgVault.Postgres;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// The WAL a stream holds in memory: taken in chunks as it arrives, a segment that fills within the hold stored whole from
/// memory, and a quiet one that lets go of its durable bytes and keeps only what is not yet durable.
/// </summary>
public sealed class WalSegmentBufferTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static byte[] Wal(int bytes, int seed)
    {
        var data = new byte[bytes];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Makes everything received durable, as the flusher does (without a repository); returns the bytes taken.</summary>
    private static List<byte> Flush(WalSegmentBuffer buffer)
    {
        var taken = new List<byte>();
        while (buffer.TryTakeUnflushed(out var segment, out var from, out var bytes))
        {
            taken.AddRange(bytes);
            buffer.MarkFlushed(segment, from + bytes.Length);
        }

        buffer.Trim();
        return taken;
    }

    [Fact]
    public async Task Memory_is_taken_as_WAL_arrives_and_a_full_segment_is_stored_whole_from_its_chunks()
    {
        var clock = new ManualClock(T0);
        var start = WalSegment.Start(7);
        using var buffer = new WalSegmentBuffer(start, clock, TimeSpan.FromMinutes(2));
        Assert.Equal(0, buffer.HeldBytes); // an idle stream holds nothing

        var first = Wal(100_000, 1);
        await buffer.AppendAsync(start, new MemoryStream(first), () => { }, Ct);
        Assert.Equal(2 * WalMemory.ChunkBytes, buffer.HeldBytes);
        Assert.Equal(first, Flush(buffer));
        Assert.Equal(2 * WalMemory.ChunkBytes, buffer.HeldBytes); // within the hold: kept for the whole segment

        var rest = Wal((int)WalSegment.DefaultSizeBytes - first.Length + 10, 2);
        var sealedCount = 0;
        await buffer.AppendAsync(start + first.Length, new MemoryStream(rest), () => sealedCount++, Ct);
        Assert.Equal(1, sealedCount);
        Assert.Equal(start + first.Length + rest.Length, buffer.ReceivedEnd);

        WalBufferedSegment? full = null;
        while (buffer.TryTakeUnflushed(out var segment, out var from, out var bytes))
        {
            if (buffer.MarkFlushed(segment, from + bytes.Length))
                full = segment;
        }

        Assert.NotNull(full);
        Assert.False(full.Spilled);
        var whole = first.Concat(rest.Take((int)WalSegment.DefaultSizeBytes - first.Length)).ToArray();
        Assert.Equal(SHA256.HashData(whole), SHA256.HashData(full.Content().ToArray()));
        var stream = new MemoryStream();
        await new Storage.SequenceReadStream(full.Content()).CopyToAsync(stream, 7777, Ct); // odd reads across chunk boundaries
        Assert.Equal(SHA256.HashData(whole), SHA256.HashData(stream.ToArray()));

        buffer.Release(full);
        Assert.Equal(WalMemory.ChunkBytes, buffer.HeldBytes); // the next segment's 10 bytes
    }

    [Fact]
    public async Task A_segment_open_longer_than_the_hold_keeps_only_what_is_not_yet_durable()
    {
        var clock = new ManualClock(T0);
        var start = WalSegment.Start(3);
        using var buffer = new WalSegmentBuffer(start, clock, TimeSpan.FromMinutes(2));
        var first = Wal(200_000, 3);
        await buffer.AppendAsync(start, new MemoryStream(first), () => { }, Ct);
        clock.Advance(TimeSpan.FromSeconds(90));
        Assert.Equal(first, Flush(buffer));
        Assert.Equal(4 * WalMemory.ChunkBytes, buffer.HeldBytes);

        clock.Advance(TimeSpan.FromSeconds(31)); // open for over 2 min
        Flush(buffer);
        Assert.Equal(0, buffer.HeldBytes);

        // New WAL is held until it is durable, then let go at once; the bytes taken are exactly the new ones.
        var more = Wal(70_000, 4);
        await buffer.AppendAsync(start + first.Length, new MemoryStream(more), () => { }, Ct);
        Assert.Equal(2 * WalMemory.ChunkBytes, buffer.HeldBytes); // 200000..270000 spans chunks 3 and 4
        Assert.Equal(more, Flush(buffer));
        Assert.Equal(0, buffer.HeldBytes);

        // Sealed, it is stored from its pieces: it cannot give its content from memory.
        var rest = Wal((int)WalSegment.DefaultSizeBytes - first.Length - more.Length, 5);
        await buffer.AppendAsync(start + first.Length + more.Length, new MemoryStream(rest), () => { }, Ct);
        Assert.True(buffer.TryTakeUnflushed(out var segment, out var from, out var bytes));
        Assert.Equal(first.Length + more.Length, from);
        Assert.Equal(rest, bytes);
        Assert.True(buffer.MarkFlushed(segment, from + bytes.Length));
        Assert.True(segment.Spilled);
        Assert.Throws<InvalidOperationException>(() => segment.Content());
        Assert.Equal(0, buffer.HeldBytes);
        buffer.Release(segment);
    }

    [Fact]
    public async Task A_zero_hold_lets_go_of_every_durable_byte()
    {
        var clock = new ManualClock(T0);
        var start = WalSegment.Start(9);
        using var buffer = new WalSegmentBuffer(start, clock, TimeSpan.Zero);
        var data = Wal(150_000, 6);
        await buffer.AppendAsync(start, new MemoryStream(data), () => { }, Ct);
        Assert.Equal(3 * WalMemory.ChunkBytes, buffer.HeldBytes);
        Assert.Equal(data, Flush(buffer));
        Assert.Equal(0, buffer.HeldBytes);
    }
}

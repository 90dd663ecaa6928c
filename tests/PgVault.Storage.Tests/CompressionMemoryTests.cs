using PgVault.Engine.Compression;
using PgVault.Engine.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Storage.Tests;

/// <summary>
/// Runs its tests alone (after the parallel ones), so that the process-wide allocation counter they read sees only
/// their own work.
/// </summary>
[CollectionDefinition(nameof(MeasuredAlone), DisableParallelization = true)]
public sealed class MeasuredAlone;

/// <summary>
/// The data path streams: pushing and pulling an object far larger than what the test lets it allocate proves that no
/// layer (the compressing adapter, the checksum, the local store's copy, the verifying reader) buffers whole objects.
/// </summary>
/// <remarks>
/// The measure is the managed bytes allocated (<see cref="GC.GetTotalAllocatedBytes"/>), which counts every array any
/// layer could buffer data in, whether or not a collection already freed it. zstd's own window and tables live in
/// native memory of fixed size per level; <see cref="CompressingReadStream.PeakBufferedBytes"/> bounds the compressed
/// bytes held between two reads.
/// </remarks>
[Collection(nameof(MeasuredAlone))]
public sealed class CompressionMemoryTests : IDisposable
{
    private const long SourceBytes = 200L * 1024 * 1024;
    private const long AllowedAllocationBytes = 16L * 1024 * 1024;   // 8 % of the data; a healthy run needs ~2-4 MiB

    private const long RandomBytes = 160L * 1024 * 1024;

    private readonly TempDirectory _dir = new("memory-bound");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Writing_and_reading_back_200_MiB_allocates_a_small_fraction_of_it()
    {
        var store = new LocalObjectStore(_dir.Path);
        var codec = new ZstdCodec(level: 1);
        await WarmUpAsync(store, codec);

        // Write: generated source -> SHA-256 -> zstd -> local store (temp file, fsync, rename).
        var before = GC.GetTotalAllocatedBytes(precise: true);
        string sha;
        int peakBuffered;
        await using (var content = new CompressedContent(new GeneratedStream(SourceBytes, seed: 3), codec))
        {
            var stored = await store.WriteAsync("big/obj.zst", content.Stream, Ct);
            Assert.Equal(SourceBytes, content.UncompressedBytes);
            Assert.Equal(stored.SizeBytes, content.CompressedBytes);
            sha = content.Sha256Hex;
            peakBuffered = content.Compressing.PeakBufferedBytes;
        }

        var writeAllocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        // Read: local store -> zstd -> SHA-256 check -> nowhere.
        before = GC.GetTotalAllocatedBytes(precise: true);
        var read = await store.ReadVerifiedToAsync("big/obj.zst", codec, sha, Stream.Null, Ct, SourceBytes);
        var readAllocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Equal(SourceBytes, read);
        Assert.True(writeAllocated < AllowedAllocationBytes, $"writing 200 MiB allocated {writeAllocated / 1024} KiB");
        Assert.True(readAllocated < AllowedAllocationBytes, $"reading 200 MiB back allocated {readAllocated / 1024} KiB");
        Assert.True(peakBuffered <= 2 * 1024 * 1024, $"the compressing stream held {peakBuffered / 1024} KiB at once");
        TestContext.Current.SendDiagnosticMessage(
            $"200 MiB: write allocated {writeAllocated / 1024} KiB, read {readAllocated / 1024} KiB, " +
            $"peak buffered {peakBuffered / 1024} KiB");
    }

    [Fact]
    public async Task Compressing_incompressible_data_with_workers_stays_bounded()
    {
        // The worst case for the adapter: zstd's jobs come out whole, as large as they went in, and ending the frame
        // flushes every job in flight (up to workers + 2 of them, a few MiB each): bounded, but not by one chunk.
        var codec = new ZstdCodec(level: 1, workers: 2);
        await using (var warm = new CompressedContent(new RandomStream(8L * 1024 * 1024), codec))
            await warm.Stream.CopyToAsync(Stream.Null, Ct);
        await using var content = new CompressedContent(new RandomStream(RandomBytes), codec);
        var before = GC.GetTotalAllocatedBytes(precise: true);

        await content.Stream.CopyToAsync(Stream.Null, Ct);

        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        var peak = content.Compressing.PeakBufferedBytes;
        Assert.True(content.CompressedBytes > RandomBytes);
        Assert.True(peak <= 32 * 1024 * 1024, $"the compressing stream held {peak / 1024} KiB at once");
        // Its buffers are allocated once, up to the peak (less what the shared pool had), whatever the length.
        Assert.True(allocated < peak + (8L * 1024 * 1024), $"160 MiB allocated {allocated / 1024} KiB (peak {peak / 1024} KiB)");
        TestContext.Current.SendDiagnosticMessage(
            $"160 MiB random, 2 workers: allocated {allocated / 1024} KiB, peak buffered {peak / 1024} KiB");
    }

    private static async Task WarmUpAsync(LocalObjectStore store, ZstdCodec codec)
    {
        // First calls JIT code and fill the array pools; that is not what is measured.
        var warm = await store.WriteCompressedAsync("warm/obj.zst", new GeneratedStream(4 * 1024 * 1024), codec, Ct);
        await store.ReadVerifiedToAsync("warm/obj.zst", codec, warm.Sha256Hex, Stream.Null, Ct);
    }

    /// <summary>Incompressible bytes, generated as read (xorshift), holding nothing.</summary>
    private sealed class RandomStream(long lengthBytes) : Stream
    {
        private ulong _state = 0x9E3779B97F4A7C15UL;
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => lengthBytes;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(buffer.Length, lengthBytes - _position);
            for (var i = 0; i < n; i++)
            {
                _state ^= _state << 13;
                _state ^= _state >> 7;
                _state ^= _state << 17;
                buffer[i] = (byte)_state;
            }

            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer.AsSpan(offset, count)));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

using System.Security.Cryptography;
using PgVault.Engine.Compression;
using PgVault.Engine.Storage;
using PgVault.Errors;
using PgVault.Testing;
using Xunit;

namespace PgVault.Storage.Tests;

/// <summary>The compression and checksum stream filters of the data path, and their pair assertion on read.</summary>
public sealed class CompressionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Sha256Hex(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private static async Task<byte[]> ReadVerifiedAsync(IObjectStore store, string key, string sha, long? size = null, bool native = true)
    {
        using var output = new MemoryStream();
        await store.ReadVerifiedToAsync(key, new ZstdCodec(nativeDecompression: native), sha, output, Ct, size);
        return output.ToArray();
    }

    [Fact]
    public void Decompression_uses_the_native_libzstd_on_linux_x64_and_arm64()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture
            is System.Runtime.InteropServices.Architecture.X64 or System.Runtime.InteropServices.Architecture.Arm64,
            "ZstdNet ships libzstd for linux-x64 and linux-arm64; elsewhere the managed port decodes");
        Assert.True(ZstdCodec.Default.NativeDecompression, "libzstd from the ZstdNet package did not load");
        Assert.False(new ZstdCodec(nativeDecompression: false).NativeDecompression);
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(1, true)]
    [InlineData(1024 * 1024, true)]
    [InlineData(20 * 1024 * 1024, true)]
    [InlineData(0, false)]
    [InlineData(1, false)]
    [InlineData(20 * 1024 * 1024, false)]
    public async Task Content_round_trips_through_compression_and_verification(int size, bool nativeDecoder)
    {
        var store = new InMemoryObjectStore();
        var content = TestData.Compressible(size, seed: size);

        var written = await store.WriteCompressedAsync("z/obj.zst", new MemoryStream(content), ZstdCodec.Default, Ct);

        Assert.Equal(Sha256Hex(content), written.Sha256Hex);
        Assert.Equal(size, written.UncompressedBytes);
        Assert.Equal(written.Object.SizeBytes, written.CompressedBytes);
        Assert.Equal(written.CompressedBytes, (await store.StatAsync("z/obj.zst", Ct))!.SizeBytes);
        if (size >= 1024 * 1024)
            Assert.True(written.CompressedBytes < size / 2, $"{size} bytes compressed to {written.CompressedBytes}");
        Assert.Equal(content, await ReadVerifiedAsync(store, "z/obj.zst", written.Sha256Hex, size, nativeDecoder));
    }

    [Fact]
    public async Task Incompressible_content_round_trips()
    {
        var store = new InMemoryObjectStore();
        var content = TestData.Bytes(3 * 1024 * 1024 + 5, 11);
        var written = await store.WriteCompressedAsync("z/random.zst", new MemoryStream(content), ZstdCodec.Default, Ct);
        Assert.Equal(content, await ReadVerifiedAsync(store, "z/random.zst", written.Sha256Hex));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(3, 2)]
    [InlineData(9, 0)]
    [InlineData(-5, 0)]
    public async Task Levels_and_worker_threads_produce_standard_zstd_frames(int level, int workers)
    {
        var store = new InMemoryObjectStore();
        var codec = new ZstdCodec(level, workers);
        var content = TestData.Compressible(3 * 1024 * 1024 + 3, seed: 5);

        var written = await store.WriteCompressedAsync("z/obj.zst", new MemoryStream(content), codec, Ct);

        var stored = await store.ReadAllBytesAsync("z/obj.zst", 64 << 20, Ct);
        Assert.Equal([0x28, 0xB5, 0x2F, 0xFD], stored[..4]);   // the zstd frame magic: `zstd -d` restores it by hand
        Assert.Equal(content, await ReadVerifiedAsync(store, "z/obj.zst", written.Sha256Hex));
    }

    [Fact]
    public async Task A_checksum_mismatch_is_reported_as_a_corrupt_object_naming_the_key()
    {
        var store = new InMemoryObjectStore();
        var content = TestData.Compressible(100_000);
        await store.WriteCompressedAsync("wal/seg.zst", new MemoryStream(content), ZstdCodec.Default, Ct);
        var wrong = Sha256Hex([1, 2, 3]);

        var ex = await Assert.ThrowsAsync<PgVaultException>(() => ReadVerifiedAsync(store, "wal/seg.zst", wrong));

        Assert.Equal(ErrorCode.ObjectCorrupt, ex.Code);
        Assert.Contains("object 'wal/seg.zst' is corrupt", ex.Message, StringComparison.Ordinal);
        Assert.Contains(Sha256Hex(content), ex.Message, StringComparison.Ordinal);
        Assert.Contains("expected " + wrong, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_size_mismatch_is_reported_as_a_corrupt_object()
    {
        var store = new InMemoryObjectStore();
        var content = TestData.Compressible(1000);
        var written = await store.WriteCompressedAsync("k.zst", new MemoryStream(content), ZstdCodec.Default, Ct);

        var larger = await Assert.ThrowsAsync<PgVaultException>(() => ReadVerifiedAsync(store, "k.zst", written.Sha256Hex, 1001));
        var smaller = await Assert.ThrowsAsync<PgVaultException>(() => ReadVerifiedAsync(store, "k.zst", written.Sha256Hex, 999));

        Assert.Equal(ErrorCode.ObjectCorrupt, larger.Code);
        Assert.Equal(ErrorCode.ObjectCorrupt, smaller.Code);
        Assert.Contains("'k.zst'", smaller.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, bool> Damages => new(
        from damage in new[] { "flip-middle", "flip-last", "truncate-half", "truncate-one", "append-garbage", "not-zstd", "empty" }
        from native in new[] { true, false }
        select (damage, native));

    [Theory]
    [MemberData(nameof(Damages))]
    public async Task Damaged_compressed_bytes_are_reported_as_a_corrupt_object_naming_the_key(string damage, bool nativeDecoder)
    {
        var store = new InMemoryObjectStore();
        var content = TestData.Compressible(2 * 1024 * 1024, 3);
        var written = await store.WriteCompressedAsync("base/data.00000.tar.zst", new MemoryStream(content), ZstdCodec.Default, Ct);
        var stored = await store.ReadAllBytesAsync("base/data.00000.tar.zst", 64 << 20, Ct);
        byte[] damaged = damage switch
        {
            "flip-middle" => Flip(stored, stored.Length / 2),
            "flip-last" => Flip(stored, stored.Length - 1),
            "truncate-half" => stored[..(stored.Length / 2)],
            "truncate-one" => stored[..^1],
            "append-garbage" => [.. stored, .. "garbage"u8],
            "not-zstd" => TestData.Bytes(5000),
            "empty" => [],
            _ => throw new ArgumentOutOfRangeException(nameof(damage)),
        };
        await store.WriteAsync("base/data.00000.tar.zst", new MemoryStream(damaged), Ct);

        var ex = await Assert.ThrowsAsync<PgVaultException>(() => ReadVerifiedAsync(store, "base/data.00000.tar.zst", written.Sha256Hex, native: nativeDecoder));

        Assert.Equal(ErrorCode.ObjectCorrupt, ex.Code);
        Assert.StartsWith("object 'base/data.00000.tar.zst' is corrupt: ", ex.Message, StringComparison.Ordinal);

        static byte[] Flip(byte[] bytes, int at)
        {
            var copy = bytes.ToArray();
            copy[at] ^= 0x5A;
            return copy;
        }
    }

    [Fact]
    public async Task A_corrupt_stream_keeps_failing_and_never_reports_success()
    {
        var store = new InMemoryObjectStore();
        var content = TestData.Compressible(10_000);
        var written = await store.WriteCompressedAsync("k.zst", new MemoryStream(content), ZstdCodec.Default, Ct);
        await using var stream = await store.OpenVerifiedAsync("k.zst", ZstdCodec.Default, Sha256Hex([0]), Ct);
        var buffer = new byte[100_000];
        var first = await Assert.ThrowsAsync<PgVaultException>(async () =>
        {
            while (await stream.ReadAsync(buffer, Ct) > 0)
            {
            }
        });

        var again = await Assert.ThrowsAsync<PgVaultException>(async () => _ = await stream.ReadAsync(buffer, Ct));

        Assert.Same(first, again);
        Assert.False(stream.IsVerified);
        _ = written;
    }

    [Fact]
    public async Task A_failing_source_leaves_no_compressed_object()
    {
        var store = new InMemoryObjectStore();
        await Assert.ThrowsAsync<IOException>(() =>
            store.WriteCompressedAsync("f.zst", new FailingStream(3 * 1024 * 1024), ZstdCodec.Default, Ct));
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public async Task Opening_an_absent_object_for_verified_reading_throws_ObjectNotFound()
    {
        var store = new InMemoryObjectStore();
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.OpenVerifiedAsync("nope.zst", ZstdCodec.Default, Sha256Hex([]), Ct));
    }

    [Fact]
    public async Task An_expected_checksum_that_is_not_sha256_hex_is_refused()
    {
        var store = new InMemoryObjectStore();
        await store.WriteCompressedAsync("k.zst", new MemoryStream([1]), ZstdCodec.Default, Ct);
        await Assert.ThrowsAsync<ArgumentException>(() => store.OpenVerifiedAsync("k.zst", ZstdCodec.Default, "abc", Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => store.OpenVerifiedAsync("k.zst", ZstdCodec.Default, new string('g', 64), Ct));
        var upper = Sha256Hex([1]).ToUpperInvariant();
        await using var ok = await store.OpenVerifiedAsync("k.zst", ZstdCodec.Default, upper, Ct);
        await ok.CopyToAsync(Stream.Null, Ct);
        Assert.True(ok.IsVerified);
    }

    [Fact]
    public void Compressed_content_reports_its_checksum_only_once_complete()
    {
        var content = TestData.Compressible(500_000);
        using var compressed = new CompressedContent(new MemoryStream(content), ZstdCodec.Default);
        var buffer = new byte[1000];
        Assert.True(compressed.Stream.Read(buffer) > 0);

        Assert.False(compressed.IsComplete);
        Assert.Throws<InvalidOperationException>(() => compressed.Sha256Hex);
        Assert.Throws<InvalidOperationException>(() => compressed.CompressedBytes);

        compressed.Stream.CopyTo(Stream.Null);   // the synchronous path
        Assert.True(compressed.IsComplete);
        Assert.Equal(Sha256Hex(content), compressed.Sha256Hex);
        Assert.Equal(content.Length, compressed.UncompressedBytes);
    }

    [Fact]
    public async Task Sha256_streams_hash_what_passes_in_either_direction()
    {
        var data = TestData.Bytes(300_000, 8);

        await using var reading = Sha256Stream.ForRead(new MemoryStream(data));
        Assert.Throws<InvalidOperationException>(() => reading.HashHex);
        await reading.CopyToAsync(Stream.Null, Ct);
        Assert.Equal(Sha256Hex(data), reading.HashHex);
        Assert.Equal(data.Length, reading.Bytes);

        using var sink = new MemoryStream();
        var writing = Sha256Stream.ForWrite(sink, leaveOpen: true);
        await writing.WriteAsync(data.AsMemory(0, 1000), Ct);
        await writing.WriteAsync(data.AsMemory(1000), Ct);
        Assert.False(writing.IsComplete);
        await writing.DisposeAsync();
        Assert.Equal(Sha256Hex(data), writing.HashHex);
        Assert.Equal(data, sink.ToArray());
        Assert.Equal(Sha256Hex(data), Sha256Stream.HashHexOf(data));
    }

    [Fact]
    public void The_codec_refuses_levels_and_worker_counts_zstd_does_not_have()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ZstdCodec(level: 23));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ZstdCodec(level: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ZstdCodec(workers: -1));
        Assert.Equal(3, ZstdCodec.Default.Level);
        Assert.Equal(".zst", ZstdCodec.Default.FileSuffix);
    }
}

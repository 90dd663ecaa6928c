using System.Security.Cryptography;
using PgVault.Engine.Compression;
using PgVault.Engine.Storage;
using PgVault.Errors;
using PgVault.Testing;
using Xunit;

namespace PgVault.Storage.Tests;

/// <summary>
/// The read-ahead stage (its source read on a task of its own) and what uses it: objects checked by the SHA-256 of
/// their stored bytes (a base backup the server compressed), whose damage must be found like any other object's.
/// </summary>
public sealed class ReadAheadStreamTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(0, true)]
    [InlineData(1, false)]
    [InlineData(4096, true)]
    [InlineData((3 << 20) + 123, true)]
    [InlineData((3 << 20) + 123, false)]
    public async Task The_bytes_come_through_in_order_read_async_or_not(int size, bool async)
    {
        var content = TestData.Bytes(size, 7);
        await using var ahead = new ReadAheadStream(new MemoryStream(content), chunkBytes: 64 * 1024, depth: 2);
        using var copy = new MemoryStream();
        var buffer = new byte[10_007];
        int n;
#pragma warning disable VSTHRD103 // the synchronous read is what this case tests
        while ((n = async ? await ahead.ReadAsync(buffer, Ct) : ahead.Read(buffer)) > 0)
            copy.Write(buffer, 0, n);
#pragma warning restore VSTHRD103
        Assert.Equal(content, copy.ToArray());
        Assert.Equal(0, await ahead.ReadAsync(buffer, Ct)); // stays at its end
    }

    [Fact]
    public async Task A_failing_source_fails_the_reader_after_the_bytes_before_it()
    {
        await using var ahead = new ReadAheadStream(new FailingStream(200_000), chunkBytes: 64 * 1024, depth: 2);
        var buffer = new byte[1000];
        long read = 0;
        var ex = await Assert.ThrowsAsync<IOException>(async () =>
        {
            int n;
            while ((n = await ahead.ReadAsync(buffer, Ct)) > 0)
                read += n;
        });
        Assert.Equal("the source failed midway", ex.Message);
        Assert.Equal(3 * 64 * 1024, read); // the whole chunks read before the failure
    }

    [Fact]
    public async Task Disposed_midway_it_stops_reading_and_disposes_its_source()
    {
        var source = new TrackingStream(new GeneratedStream(1L << 30));
        var ahead = new ReadAheadStream(source, chunkBytes: 64 * 1024, depth: 2);
        var buffer = new byte[1000];
        Assert.True(await ahead.ReadAsync(buffer, Ct) > 0);
        await ahead.DisposeAsync();
        Assert.True(source.Disposed);
        Assert.True(source.BytesRead < 1L << 20, $"{source.BytesRead} bytes read ahead");
    }

    /// <summary>A stored-checksum object: the SHA-256 of the stored (compressed) bytes and their size are what is checked.</summary>
    [Theory]
    [InlineData("intact")]
    [InlineData("flip")]
    [InlineData("truncate")]
    [InlineData("trailing")]
    public async Task An_object_checked_by_its_stored_bytes_is_verified_and_its_damage_found(string damage)
    {
        var store = new InMemoryObjectStore();
        var content = TestData.Bytes(5 << 20, 3);
        var compressed = new MemoryStream();
        await using (var compressor = ZstdCodec.Default.CreateCompressor(compressed, leaveOpen: true))
            await compressor.WriteAsync(content, Ct);
        var stored = compressed.ToArray();
        var sha = Convert.ToHexStringLower(SHA256.HashData(stored));
        var written = damage switch
        {
            "flip" => Flip(stored),
            "truncate" => stored[..^10],
            "trailing" => [.. stored, .. new byte[] { 1, 2, 3 }],
            _ => stored,
        };
        await store.WriteAsync("base/data.00000.tar.zst", new MemoryStream(written), Ct);

        async Task<byte[]> ReadAsync()
        {
            await using var verified = await store.OpenVerifiedAsync("base/data.00000.tar.zst", ZstdCodec.Default, sha, Ct, stored.Length,
                storedChecksum: true);
            using var output = new MemoryStream();
            await verified.CopyToAsync(output, Ct);
            Assert.True(verified.IsVerified);
            return output.ToArray();
        }

        if (damage == "intact")
        {
            Assert.Equal(content, await ReadAsync());
            return;
        }

        var ex = await Assert.ThrowsAsync<PgVaultException>(ReadAsync);
        Assert.Equal(ErrorCode.ObjectCorrupt, ex.Code);
        Assert.StartsWith("object 'base/data.00000.tar.zst' is corrupt: ", ex.Message, StringComparison.Ordinal);

        static byte[] Flip(byte[] bytes)
        {
            var copy = bytes.ToArray();
            copy[copy.Length / 2] ^= 0x40;
            return copy;
        }
    }

    private sealed class TrackingStream(Stream inner) : ReadOnlyStream
    {
        public bool Disposed { get; private set; }

        public long BytesRead { get; private set; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = inner.Read(buffer, offset, count);
            BytesRead += n;
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}

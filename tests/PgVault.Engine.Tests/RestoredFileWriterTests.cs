using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using PgVault.Engine.Restore;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// The restore's file writer: whatever the size (aligned or not, across its 1 MiB buffer) and whatever the filesystem
/// (ext4 takes direct I/O, tmpfs may refuse it), a file holds exactly the bytes and the mode it was given.
/// </summary>
public sealed class RestoredFileWriterTests : IDisposable
{
    private readonly List<string> _dirs = [];

    public static TheoryData<int> Sizes => [0, 1, 511, 4095, 4096, 8192, 8192 * 3 + 17, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 4096, 3 * (1 << 20) + 123];

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task Writes_exactly_the_bytes_with_direct_io_on_the_temp_directory(int size)
    {
        var dir = NewDirectory(Path.GetTempPath());
        var writer = new RestoredFileWriter(NullLogger.Instance, directIo: true);

        await WriteAndCheckAsync(writer, dir, size);

        // /tmp here is ext4 (direct I/O works): the writer must not have fallen back on it.
        if (OperatingSystem.IsLinux() && new DriveInfo(dir).DriveFormat is "ext4" or "xfs" or "btrfs")
            Assert.True(writer.DirectIo, "direct I/O was given up on a filesystem that supports it");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Writes_many_files_of_mixed_sizes_with_one_writer(bool directIo)
    {
        var dir = NewDirectory(Path.GetTempPath());
        var writer = new RestoredFileWriter(NullLogger.Instance, directIo);
        foreach (var size in Sizes)
            await WriteAndCheckAsync(writer, dir, size);
        if (!directIo)
            Assert.False(writer.DirectIo);
    }

    [Fact]
    public async Task Falls_back_or_writes_directly_on_tmpfs_and_the_bytes_are_right()
    {
        Assert.SkipUnless(Directory.Exists("/dev/shm"), "no /dev/shm (tmpfs) on this machine");
        var dir = NewDirectory("/dev/shm");
        var writer = new RestoredFileWriter(NullLogger.Instance, directIo: true);
        foreach (var size in new[] { 4096, (1 << 20) + 1, 5000 })
            await WriteAndCheckAsync(writer, dir, size);
    }

    private static async Task WriteAndCheckAsync(RestoredFileWriter writer, string dir, int size)
    {
        var data = RandomNumberGenerator.GetBytes(size);
        var path = Path.Combine(dir, $"file-{size}");
        // Small reads, as a tar entry's data stream gives them, so the buffer is filled from several reads.
        await using var source = new TrickleStream(data, 300_000);
        await writer.WriteAsync(path, source, UnixFileMode.UserRead | UnixFileMode.UserWrite, TestContext.Current.CancellationToken);

        var written = await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(size, written.Length);
        Assert.True(data.AsSpan().SequenceEqual(written), $"file of {size} bytes differs from what was written");
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    private string NewDirectory(string parent)
    {
        var dir = Path.Combine(parent, $"pgvault-writer-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        _dirs.Add(dir);
        return dir;
    }

    public void Dispose()
    {
        foreach (var dir in _dirs)
            Directory.Delete(dir, recursive: true);
    }

    /// <summary>A read-only stream that returns at most <c>max</c> bytes per read.</summary>
    private sealed class TrickleStream(byte[] data, int max) : MemoryStream(data, writable: false)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, max));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, max)], cancellationToken);
    }
}

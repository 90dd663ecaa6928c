using PgVault.Engine.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Storage.Tests;

/// <summary>The contract against a directory on disk, plus what only a filesystem can show: the files themselves.</summary>
public sealed class LocalObjectStoreTests : ObjectStoreContract, IDisposable
{
    private readonly TempDirectory _dir = new("local-store");
    private int _stores;

    protected override string ExpectedKind => "filesystem";

    protected override IObjectStore CreateStore() => CreateLocal();

    public void Dispose() => _dir.Dispose();

    private LocalObjectStore CreateLocal() => new(Path.Combine(_dir.Path, $"store{Interlocked.Increment(ref _stores)}"));

    /// <summary>Every file and directory under the root, hidden ones included, as relative paths.</summary>
    private static string[] Tree(LocalObjectStore store) =>
    [
        .. Directory.EnumerateFileSystemEntries(store.RootDirectory, "*", new EnumerationOptions
            {
                RecurseSubdirectories = true,
                AttributesToSkip = FileAttributes.None,
            })
            .Select(p => Path.GetRelativePath(store.RootDirectory, p).Replace('\\', '/'))
            .Order(StringComparer.Ordinal),
    ];

    [Fact]
    public async Task Objects_are_plain_files_at_their_key()
    {
        var store = CreateLocal();
        var content = TestData.Bytes(1234, 1);

        await WriteAsync(store, "a/b/c.zst", content);

        Assert.Equal(["a", "a/b", "a/b/c.zst"], Tree(store));
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(store.RootDirectory, "a", "b", "c.zst"), Ct));
    }

    /// <summary>
    /// Objects of a MiB or more are written with direct I/O where the filesystem allows it (the test directory: ext4 on the
    /// CI machines; tmpfs would fall back): the bytes must come back the same on both sides of the buffer's size and of the
    /// 4 KiB alignment, and from a source that hands out odd-sized reads.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Large_and_unaligned_objects_read_back_byte_for_byte(bool directIo)
    {
        var store = new LocalObjectStore(Path.Combine(_dir.Path, $"direct-{directIo}"), directIo: directIo);
        foreach (var size in new[] { 0, 4096, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, (3 << 20) + 123, 5 << 20 })
        {
            var content = TestData.Bytes(size, size);
            var key = $"o/{size}";
            var info = await store.WriteAsync(key, new OddReads(content), Ct);
            Assert.Equal(size, info.SizeBytes);
            Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(store.RootDirectory, "o", size.ToString(System.Globalization.CultureInfo.InvariantCulture)), Ct));
        }

        Assert.DoesNotContain(Tree(store), p => p.Contains(".tmp-", StringComparison.Ordinal));
    }

    /// <summary>Hands out its content in reads of 1..77777 bytes, whatever the caller asks for.</summary>
    private sealed class OddReads(byte[] content) : MemoryStream(content, writable: false)
    {
        private int _next = 1;

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, Next()));

        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, Next())]);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, Next())], cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            base.ReadAsync(buffer, offset, Math.Min(count, Next()), cancellationToken);

        private int Next() => _next = (_next * 7919 % 77777) + 1;
    }

    [Fact]
    public async Task The_root_is_created_when_missing()
    {
        var root = Path.Combine(_dir.Path, "not", "yet", "there");
        var store = new LocalObjectStore(root);
        await WriteAsync(store, "k", [1]);
        Assert.True(File.Exists(Path.Combine(root, "k")));
    }

    [Fact]
    public async Task A_failed_write_leaves_no_temporary_file()
    {
        var store = CreateLocal();
        await WriteAsync(store, "f/kept", [1]);

        await Assert.ThrowsAsync<IOException>(() => store.WriteAsync("f/new", new FailingStream(2 * 1024 * 1024), Ct));
        await Assert.ThrowsAsync<IOException>(() => store.WriteAsync("f/kept", new FailingStream(10), Ct));
        await Assert.ThrowsAsync<IOException>(() => store.WriteAsync("g/h/new", new FailingStream(0), Ct));

        Assert.DoesNotContain(Tree(store), p => p.Contains(LocalObjectStore.TempFilePrefix, StringComparison.Ordinal));
        Assert.Contains("f/kept", Tree(store));
        Assert.DoesNotContain("f/new", Tree(store));
    }

    [Fact]
    public async Task A_cancelled_write_leaves_no_temporary_file()
    {
        var store = CreateLocal();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var gate = new GatedStream(TestData.Bytes(2 * 1024 * 1024, 2), bytesBeforeGate: 1024 * 1024);

        var write = store.WriteAsync("c/x", gate, cts.Token);
        await gate.WaitUntilReachedAsync(Ct);
        Assert.Contains(Tree(store), p => p.StartsWith("c/" + LocalObjectStore.TempFilePrefix, StringComparison.Ordinal));
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write.WaitAsync(TimeSpan.FromSeconds(30), Ct));
        Assert.DoesNotContain(Tree(store), p => p.Contains(LocalObjectStore.TempFilePrefix, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_crash_during_a_write_leaves_only_complete_files_visible()
    {
        // What a crash mid-write leaves on disk is exactly what is there while a write is in progress: the temporary
        // file, next to the (untouched) earlier object. A new store over the same directory (the restart) must not see it.
        var store = CreateLocal();
        var original = TestData.Bytes(5000, 3);
        await WriteAsync(store, "crash/obj", original);
        var gate = new GatedStream(TestData.Bytes(3 * 1024 * 1024, 4), bytesBeforeGate: 2 * 1024 * 1024);
        var write = store.WriteAsync("crash/obj", gate, Ct);
        var freshGate = new GatedStream(new byte[10], 5);
        var fresh = store.WriteAsync("crash/new", freshGate, Ct);
        await Task.WhenAll(gate.WaitUntilReachedAsync(Ct), freshGate.WaitUntilReachedAsync(Ct));

        var onDisk = Tree(store);
        Assert.Equal(2, onDisk.Count(p => p.StartsWith("crash/" + LocalObjectStore.TempFilePrefix, StringComparison.Ordinal)));
        Assert.Equal(original, await File.ReadAllBytesAsync(Path.Combine(store.RootDirectory, "crash", "obj"), Ct));

        var restarted = new LocalObjectStore(store.RootDirectory);
        Assert.Equal(["crash/obj"], (await ListAsync(restarted, "")).Select(o => o.Key));
        Assert.Equal(original, await ReadAllAsync(restarted, "crash/obj"));
        Assert.Null(await restarted.StatAsync("crash/new", Ct));

        gate.Release();
        freshGate.Release();
        await Task.WhenAll(write, fresh).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(3 * 1024 * 1024, (await restarted.StatAsync("crash/obj", Ct))!.SizeBytes);
        Assert.Equal(["crash/new", "crash/obj"], (await ListAsync(restarted, "")).Select(o => o.Key));
    }

    [Fact]
    public async Task Leftover_temporary_and_foreign_files_are_not_objects()
    {
        var store = CreateLocal();
        await WriteAsync(store, "d/obj", [1]);
        var dir = Path.Combine(store.RootDirectory, "d");
        await File.WriteAllBytesAsync(Path.Combine(dir, LocalObjectStore.TempFilePrefix + "0123456789abcdef"), [9, 9], Ct);
        await File.WriteAllBytesAsync(Path.Combine(dir, "name with spaces"), [9], Ct);
        await File.WriteAllBytesAsync(Path.Combine(store.RootDirectory, ".hidden"), [9], Ct);
        Directory.CreateDirectory(Path.Combine(store.RootDirectory, "lost+found"));
        await File.WriteAllBytesAsync(Path.Combine(store.RootDirectory, "lost+found", "x"), [9], Ct);

        Assert.Equal(["d/obj"], (await ListAsync(store, "")).Select(o => o.Key));
        Assert.Equal(["d/obj"], (await ListAsync(store, "d/")).Select(o => o.Key));
    }

    [Fact]
    public async Task Delete_removes_folders_it_emptied_but_never_the_root()
    {
        var store = CreateLocal();
        await WriteAsync(store, "a/b/c/one", [1]);
        await WriteAsync(store, "a/b/two", [2]);
        await WriteAsync(store, "top", [3]);

        await store.DeleteAsync(["a/b/c/one"], Ct);
        Assert.Equal(["a", "a/b", "a/b/two", "top"], Tree(store));

        await store.DeleteAsync(["a/b/two", "top"], Ct);
        Assert.Empty(Tree(store));
        Assert.True(Directory.Exists(store.RootDirectory));
    }

    [Fact]
    public async Task Listing_a_prefix_below_an_object_finds_nothing()
    {
        var store = CreateLocal();
        await WriteAsync(store, "file", [1]);
        Assert.Empty(await ListAsync(store, "file/"));
        Assert.Empty(await ListAsync(store, "file/x"));
    }

    [Fact]
    public void Syncing_a_directory_works_skips_a_vanished_one_and_reports_errors()
    {
        DirectorySync.Sync(_dir.Path);
        DirectorySync.Sync(Path.Combine(_dir.Path, "does-not-exist"));   // removed by a concurrent delete: nothing to sync
        var file = Path.Combine(_dir.Path, "a-file");
        File.WriteAllBytes(file, [1]);
        if (OperatingSystem.IsLinux())
            Assert.Throws<IOException>(() => DirectorySync.Sync(file));      // ENOTDIR
    }
}

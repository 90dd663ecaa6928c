using PgVault.Engine.Repository;
using PgVault.Engine.Storage;
using PgVault.Errors;
using Xunit;

namespace PgVault.Storage.Tests;

/// <summary>
/// What every <see cref="IObjectStore"/> must do, as its XML docs state it (WAL-G's <c>RunFolderTest</c>, Litestream's
/// <c>RunWithReplicaClient</c>). Subclassed once per backend; each test gets new, empty stores from
/// <see cref="CreateStore"/>. The in-memory fake passes it too, which is what lets unit tests use it.
/// </summary>
public abstract class ObjectStoreContract
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>A new, empty store of its own.</summary>
    protected abstract IObjectStore CreateStore();

    /// <summary>The store's <see cref="IObjectStore.Kind"/>.</summary>
    protected abstract string ExpectedKind { get; }

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected static async Task<byte[]> ReadAllAsync(IObjectStore store, string key, ReadRange? range = null)
    {
        await using var stream = await store.OpenReadAsync(key, range ?? ReadRange.All, Ct);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, Ct);
        return copy.ToArray();
    }

    protected static Task<ObjectInfo> WriteAsync(IObjectStore store, string key, byte[] content) =>
        store.WriteAsync(key, new MemoryStream(content, writable: false), Ct);

    protected static async Task<List<ObjectInfo>> ListAsync(IObjectStore store, string prefix)
    {
        var list = new List<ObjectInfo>();
        await foreach (var info in store.ListAsync(prefix, Ct))
            list.Add(info);
        return list;
    }

    [Fact]
    public void Kind_and_capabilities_are_stated()
    {
        var store = CreateStore();
        Assert.Equal(ExpectedKind, store.Kind);
        var known = ObjectStoreCapabilities.AtomicRename | ObjectStoreCapabilities.ConsistentList;
        Assert.Equal(ObjectStoreCapabilities.None, store.Capabilities & ~known);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1000)]
    [InlineData(5 * 1024 * 1024 + 7)]
    public async Task Write_then_read_round_trips_the_bytes(int size)
    {
        var store = CreateStore();
        var content = TestData.Bytes(size, seed: size);
        var before = DateTimeOffset.UtcNow.AddMinutes(-5);

        var written = await WriteAsync(store, "a/b/object.bin", content);

        Assert.Equal("a/b/object.bin", written.Key);
        Assert.Equal(size, written.SizeBytes);
        Assert.InRange(written.LastModified, before, DateTimeOffset.UtcNow.AddMinutes(5));
        var stat = await store.StatAsync("a/b/object.bin", Ct);
        Assert.NotNull(stat);
        Assert.Equal(size, stat.SizeBytes);
        Assert.Equal(content, await ReadAllAsync(store, "a/b/object.bin"));
    }

    [Fact]
    public async Task A_top_level_key_round_trips()
    {
        var store = CreateStore();
        await WriteAsync(store, "top", [1, 2, 3]);
        Assert.Equal([1, 2, 3], await ReadAllAsync(store, "top"));
        Assert.Equal(["top"], (await ListAsync(store, "")).Select(o => o.Key));
    }

    [Fact]
    public async Task Writing_a_key_again_replaces_the_object()
    {
        var store = CreateStore();
        await WriteAsync(store, "k/v", TestData.Bytes(3000, 1));
        var second = TestData.Bytes(10, 2);

        var info = await WriteAsync(store, "k/v", second);

        Assert.Equal(10, info.SizeBytes);
        Assert.Equal(second, await ReadAllAsync(store, "k/v"));
        Assert.Equal(10, (await store.StatAsync("k/v", Ct))!.SizeBytes);
        Assert.Single(await ListAsync(store, "k/"));
    }

    [Fact]
    public async Task Stat_of_an_absent_object_is_null()
    {
        var store = CreateStore();
        await WriteAsync(store, "present/x", [1]);
        Assert.Null(await store.StatAsync("absent", Ct));
        Assert.Null(await store.StatAsync("present/y", Ct));
        Assert.Null(await store.StatAsync("present/x/deeper", Ct));
        Assert.Null(await store.StatAsync("present", Ct));   // a "folder" is not an object
    }

    [Fact]
    public async Task Opening_an_absent_object_throws_ObjectNotFound()
    {
        var store = CreateStore();
        await WriteAsync(store, "present/x", [1]);

        var ex = await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.OpenReadAsync("present/y", ReadRange.All, Ct));
        Assert.Equal(ErrorCode.ObjectNotFound, ex.Code);
        Assert.Equal("present/y", ex.Key);
        Assert.Contains("'present/y'", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.OpenReadAsync("nowhere/at/all", ReadRange.All, Ct));
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.OpenReadAsync("present", ReadRange.All, Ct));
    }

    [Theory]
    [InlineData(0, null, 0, 100)]        // everything
    [InlineData(10, 20L, 10, 20)]        // the middle
    [InlineData(90, null, 90, 10)]       // from an offset to the end
    [InlineData(95, 100L, 95, 5)]        // a length beyond the end reads what is there
    [InlineData(100, null, 100, 0)]      // at the end: nothing
    [InlineData(150, 10L, 100, 0)]       // past the end: nothing
    [InlineData(10, 0L, 10, 0)]          // an empty range
    public async Task Ranged_reads_return_the_bytes_of_the_range(long offset, long? length, int expectedStart, int expectedLength)
    {
        var store = CreateStore();
        var content = TestData.Bytes(100, 9);
        await WriteAsync(store, "r/obj", content);

        var read = await ReadAllAsync(store, "r/obj", new ReadRange(offset, length));

        Assert.Equal(content.AsSpan(expectedStart, expectedLength).ToArray(), read);
    }

    [Fact]
    public async Task A_ranged_read_of_a_large_object_streams_the_range()
    {
        var store = CreateStore();
        var content = TestData.Bytes(3 * 1024 * 1024, 4);
        await WriteAsync(store, "r/large", content);

        var read = await ReadAllAsync(store, "r/large", new ReadRange(1024 * 1024 + 3, 1024 * 1024));

        Assert.Equal(content.AsSpan(1024 * 1024 + 3, 1024 * 1024).ToArray(), read);
    }

    [Fact]
    public async Task List_returns_the_objects_under_a_prefix_in_ordinal_order_with_sizes()
    {
        var store = CreateStore();
        // Chosen so that file-system order, culture order and ordinal order disagree: '-' < '.' < '/' < '0' < 'A' < 'a'.
        string[] keys = ["x/a/b", "x/a-b", "x/a0", "x/a.txt", "x/A", "x/a/c/d", "x/ab=1", "x/b", "y/z", "xx", "x0/q"];
        for (var i = 0; i < keys.Length; i++)
            await WriteAsync(store, keys[i], TestData.Bytes(i + 1, i));

        var all = await ListAsync(store, "");
        Assert.Equal(keys.Order(StringComparer.Ordinal), all.Select(o => o.Key));
        foreach (var info in all)
            Assert.Equal(Array.IndexOf(keys, info.Key) + 1, info.SizeBytes);

        Assert.Equal(Sorted(keys.Where(k => k.StartsWith("x/", StringComparison.Ordinal))), Keys(await ListAsync(store, "x/")));
        Assert.Equal(["x/a-b", "x/a.txt", "x/a/b", "x/a/c/d", "x/a0", "x/ab=1"], Keys(await ListAsync(store, "x/a")));
        Assert.Equal(["x/a/b", "x/a/c/d"], Keys(await ListAsync(store, "x/a/")));
        Assert.Equal(["x/a/c/d"], Keys(await ListAsync(store, "x/a/c")));
        Assert.Equal(["x/a/b"], Keys(await ListAsync(store, "x/a/b")));
        Assert.Equal(
            ["x/A", "x/a-b", "x/a.txt", "x/a/b", "x/a/c/d", "x/a0", "x/ab=1", "x/b", "x0/q", "xx"],
            Keys(await ListAsync(store, "x")));
        Assert.Empty(await ListAsync(store, "nothing/"));
        Assert.Empty(await ListAsync(store, "x/a/b/"));
        Assert.Empty(await ListAsync(store, "x/c"));

        static string[] Sorted(IEnumerable<string> k) => [.. k.Order(StringComparer.Ordinal)];
        static string[] Keys(List<ObjectInfo> l) => [.. l.Select(o => o.Key)];
    }

    [Fact]
    public async Task An_object_being_written_is_neither_listed_nor_readable()
    {
        var store = CreateStore();
        await WriteAsync(store, "w/existing", [7]);
        var content = TestData.Bytes(2 * 1024 * 1024, 5);
        var gate = new GatedStream(content, bytesBeforeGate: 1024 * 1024);

        var write = store.WriteAsync("w/pending", gate, Ct);
        await gate.WaitUntilReachedAsync(Ct);

        Assert.Equal(["w/existing"], (await ListAsync(store, "")).Select(o => o.Key));
        Assert.Equal(["w/existing"], (await ListAsync(store, "w/")).Select(o => o.Key));
        Assert.Null(await store.StatAsync("w/pending", Ct));
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.OpenReadAsync("w/pending", ReadRange.All, Ct));

        gate.Release();
        var info = await write.WaitAsync(Timeout, Ct);

        Assert.Equal(content.Length, info.SizeBytes);
        Assert.Equal(content, await ReadAllAsync(store, "w/pending"));
        Assert.Equal(["w/existing", "w/pending"], (await ListAsync(store, "w/")).Select(o => o.Key));
    }

    [Fact]
    public async Task A_write_whose_content_fails_midway_leaves_no_object()
    {
        var store = CreateStore();

        var ex = await Assert.ThrowsAsync<IOException>(() => store.WriteAsync("f/new", new FailingStream(1536 * 1024), Ct));

        Assert.Equal("the source failed midway", ex.Message);
        Assert.Null(await store.StatAsync("f/new", Ct));
        Assert.Empty(await ListAsync(store, ""));
    }

    [Fact]
    public async Task A_failed_write_leaves_the_earlier_object_of_that_key_intact()
    {
        var store = CreateStore();
        var original = TestData.Bytes(4096, 3);
        await WriteAsync(store, "f/key", original);

        await Assert.ThrowsAsync<IOException>(() => store.WriteAsync("f/key", new FailingStream(100_000), Ct));

        Assert.Equal(original, await ReadAllAsync(store, "f/key"));
        Assert.Equal(4096, (await store.StatAsync("f/key", Ct))!.SizeBytes);
        Assert.Equal(["f/key"], (await ListAsync(store, "")).Select(o => o.Key));
    }

    [Fact]
    public async Task A_write_cancelled_midway_leaves_nothing_and_keeps_the_earlier_object()
    {
        var store = CreateStore();
        var original = TestData.Bytes(1000, 6);
        await WriteAsync(store, "c/kept", original);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var gate = new GatedStream(TestData.Bytes(3 * 1024 * 1024, 7), bytesBeforeGate: 1024 * 1024);
        var gate2 = new GatedStream(TestData.Bytes(3 * 1024 * 1024, 8), bytesBeforeGate: 1024 * 1024);

        var fresh = store.WriteAsync("c/fresh", gate, cts.Token);
        var replacing = store.WriteAsync("c/kept", gate2, cts.Token);
        await Task.WhenAll(gate.WaitUntilReachedAsync(Ct), gate2.WaitUntilReachedAsync(Ct));
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fresh.WaitAsync(Timeout, Ct));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => replacing.WaitAsync(Timeout, Ct));
        Assert.Null(await store.StatAsync("c/fresh", Ct));
        Assert.Equal(original, await ReadAllAsync(store, "c/kept"));
        Assert.Equal(["c/kept"], (await ListAsync(store, "")).Select(o => o.Key));
    }

    [Fact]
    public async Task A_write_with_a_cancelled_token_writes_nothing()
    {
        var store = CreateStore();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.WriteAsync("c/x", new MemoryStream([1, 2]), cts.Token));

        Assert.Empty(await ListAsync(store, ""));
    }

    [Fact]
    public async Task Delete_removes_the_objects_and_ignores_missing_keys()
    {
        var store = CreateStore();
        await WriteAsync(store, "d/a", [1]);
        await WriteAsync(store, "d/b", [2]);
        await WriteAsync(store, "d/sub/c", [3]);
        await WriteAsync(store, "e/keep", [4]);

        await store.DeleteAsync(["d/a", "d/sub/c", "d/missing", "never/existed/at/all"], Ct);

        Assert.Equal(["d/b", "e/keep"], (await ListAsync(store, "")).Select(o => o.Key));
        Assert.Null(await store.StatAsync("d/a", Ct));
        await store.DeleteAsync([], Ct);
        await store.DeleteAsync(["d/a"], Ct);   // again: still not an error
        await store.DeleteAsync(["d", "e"], Ct);   // "folders" are not objects: nothing happens
        Assert.Equal(["d/b", "e/keep"], (await ListAsync(store, "")).Select(o => o.Key));

        // A deleted key can be written again, also where its folder went away.
        await WriteAsync(store, "d/sub/c", [5]);
        Assert.Equal([5], await ReadAllAsync(store, "d/sub/c"));
    }

    public static TheoryData<string> InvalidKeys =>
    [
        "", "/a", "a/", "/", "a//b", "..", "a/../b", "a/..", "a..b", "a\\b", "a b", "a/.hidden", ".tmp-123", "./a",
        "a/./b", "é", "a?b", "a*", "a:b", "a\nb", "a\0b", new string('k', 1025), "a/" + new string('s', 256),
    ];

    [Theory]
    [MemberData(nameof(InvalidKeys))]
    public async Task Invalid_keys_are_rejected_by_every_method(string key)
    {
        var store = CreateStore();

        await AssertInvalid(() => store.WriteAsync(key, new MemoryStream([1]), Ct));
        await AssertInvalid(() => store.StatAsync(key, Ct));
        await AssertInvalid(() => store.OpenReadAsync(key, ReadRange.All, Ct));
        await AssertInvalid(() => store.DeleteAsync(["valid", key], Ct));
        Assert.False(ObjectKeys.IsValid(key));
        Assert.Empty(await ListAsync(store, ""));

        static async Task AssertInvalid(Func<Task> call)
        {
            var ex = await Assert.ThrowsAsync<PgVaultException>(call);
            Assert.Equal(ErrorCode.InvalidObjectKey, ex.Code);
        }
    }

    [Theory]
    [InlineData("/a")]
    [InlineData("a\\b")]
    [InlineData("a/../")]
    [InlineData("a b")]
    public async Task Invalid_prefixes_are_rejected_by_List(string prefix)
    {
        var store = CreateStore();
        var ex = await Assert.ThrowsAsync<PgVaultException>(() => ListAsync(store, prefix));
        Assert.Equal(ErrorCode.InvalidObjectKey, ex.Code);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("a.b")]
    [InlineData("A-Z_0.9=x")]
    [InlineData("deep/er/and/deeper/still/key.zst")]
    public async Task Valid_keys_are_accepted(string key)
    {
        var store = CreateStore();
        Assert.True(ObjectKeys.IsValid(key));
        await WriteAsync(store, key, [42]);
        Assert.Equal([42], await ReadAllAsync(store, key));
    }

    [Fact]
    public async Task Keys_of_the_repository_layout_are_stored_and_listed_in_layout_order()
    {
        var store = CreateStore();
        var sha = new string('a', 64);
        var sha2 = new string('b', 64);
        string[] keys =
        [
            RepositoryLayout.Chain("c1", "20260101T000000Z"),
            RepositoryLayout.WalSegment("c1", "20260101T000000Z", 1, "000000010000000000000001", sha),
            RepositoryLayout.WalSegment("c1", "20260101T000000Z", 1, "000000010000000000000002", sha2),
            RepositoryLayout.WalPartial("c1", "20260101T000000Z", 1, "000000010000000000000003", 0, 0x10000, sha),
            RepositoryLayout.WalPartial("c1", "20260101T000000Z", 1, "000000010000000000000003", 0x10000, 0x2A000, sha2),
            RepositoryLayout.WalSegment("c1", "20260101T000000Z", 2, "000000020000000000000003", sha),
            RepositoryLayout.History("c1", "20260101T000000Z", 2),
            RepositoryLayout.BaseBackupPart("c1", "20260101T000000Z", "20260101T000000Z", 0),
            RepositoryLayout.BaseBackupPart("c1", "20260101T000000Z", "20260101T000000Z", 1),
            RepositoryLayout.BaseBackupMetadata("c1", "20260101T000000Z", "20260101T000000Z"),
            RepositoryLayout.BaseBackupComplete("c1", "20260101T000000Z", "20260101T000000Z"),
            RepositoryLayout.Chain("c2", "20260102T000000Z"),
        ];
        foreach (var key in keys.Reverse())
            await WriteAsync(store, key, System.Text.Encoding.ASCII.GetBytes(key));

        var chain = (await ListAsync(store, RepositoryLayout.ChainPrefix("c1", "20260101T000000Z"))).Select(o => o.Key).ToArray();
        Assert.Equal(keys[..^1].Order(StringComparer.Ordinal), chain);

        var timeline1 = (await ListAsync(store, RepositoryLayout.WalTimelinePrefix("c1", "20260101T000000Z", 1))).Select(o => o.Key);
        Assert.Equal(keys[1..5], timeline1);
        var partial = await ListAsync(store, RepositoryLayout.WalPartialPrefix("c1", "20260101T000000Z", 1, "000000010000000000000003"));
        Assert.Equal(keys[3..5], partial.Select(o => o.Key));
        var backup = await ListAsync(store, RepositoryLayout.BaseBackupPrefix("c1", "20260101T000000Z", "20260101T000000Z"));
        Assert.Equal(4, backup.Count);
        foreach (var key in keys)
            Assert.Equal(System.Text.Encoding.ASCII.GetBytes(key), await ReadAllAsync(store, key));
    }

    [Fact]
    public async Task Concurrent_writes_of_different_keys_all_land()
    {
        var store = CreateStore();
        var contents = Enumerable.Range(0, 24).ToDictionary(i => $"p/{i % 3}/obj-{i:D2}", i => TestData.Bytes(40_000 + i, i));

        await Task.WhenAll(contents.Select(kv => Task.Run(() => WriteAsync(store, kv.Key, kv.Value), Ct)));

        var listed = await ListAsync(store, "p/");
        Assert.Equal(contents.Keys.Order(StringComparer.Ordinal), listed.Select(o => o.Key));
        foreach (var (key, content) in contents)
            Assert.Equal(content, await ReadAllAsync(store, key));
    }

    [Fact]
    public async Task Concurrent_writes_and_deletes_in_one_folder_never_lose_a_completed_write()
    {
        var store = CreateStore();
        // Deletes empty the folder again and again while other keys are written into it (on disk: the folder is
        // removed and recreated under the writers' feet).
        var writers = Enumerable.Range(0, 2).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 30; i++)
            {
                var key = $"busy/sub/w{w}-{i:D3}";
                await WriteAsync(store, key, [(byte)i]);
                Assert.Equal([(byte)i], await ReadAllAsync(store, key));
                await store.DeleteAsync([key], Ct);
            }
        }, Ct));
        var survivor = Task.Run(async () =>
        {
            for (var i = 0; i < 30; i++)
                await WriteAsync(store, $"busy/sub/keep-{i:D3}", [1]);
        }, Ct);

        await Task.WhenAll([.. writers, survivor]).WaitAsync(Timeout, Ct);

        Assert.Equal(30, (await ListAsync(store, "busy/")).Count);
    }

    [Fact]
    public async Task Readers_see_either_the_old_or_the_new_object_never_a_mix()
    {
        var store = CreateStore();
        var a = Enumerable.Repeat((byte)'a', 300_000).ToArray();
        var b = Enumerable.Repeat((byte)'b', 200_000).ToArray();
        await WriteAsync(store, "swap/obj", a);

        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
                await WriteAsync(store, "swap/obj", i % 2 == 0 ? b : a);
        }, Ct);
        while (!writer.IsCompleted)
        {
            var read = await ReadAllAsync(store, "swap/obj");
            Assert.True(read.AsSpan().SequenceEqual(a) || read.AsSpan().SequenceEqual(b), $"a read saw {read.Length} mixed bytes");
        }

        await writer;
    }
}

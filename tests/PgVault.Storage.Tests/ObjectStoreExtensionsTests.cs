using PgVault.Engine.Storage;
using PgVault.Errors;
using PgVault.Testing;
using Xunit;

namespace PgVault.Storage.Tests;

/// <summary>The helpers on top of <see cref="IObjectStore"/>, against the in-memory store (they use only the interface).</summary>
public sealed class ObjectStoreExtensionsTests : IDisposable
{
    private readonly TempDirectory _dir = new("store-helpers");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Exists_tells_present_from_absent()
    {
        var store = new InMemoryObjectStore();
        await store.WriteBytesAsync("a/b", new byte[] { 1 }, Ct);
        Assert.True(await store.ExistsAsync("a/b", Ct));
        Assert.False(await store.ExistsAsync("a/c", Ct));
        Assert.False(await store.ExistsAsync("a", Ct));
    }

    [Fact]
    public async Task WriteBytes_writes_exactly_the_given_slice()
    {
        var store = new InMemoryObjectStore();
        var array = TestData.Bytes(100);

        var info = await store.WriteBytesAsync("s", array.AsMemory(10, 20), Ct);

        Assert.Equal(20, info.SizeBytes);
        Assert.Equal(array[10..30], await store.ReadAllBytesAsync("s", 20, Ct));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(65_535)]
    [InlineData(65_536)]
    [InlineData(300_001)]
    public async Task ReadAllBytes_reads_objects_up_to_the_cap(int size)
    {
        var store = new InMemoryObjectStore();
        var content = TestData.Bytes(size, size);
        await store.WriteBytesAsync("meta.json", content, Ct);

        Assert.Equal(content, await store.ReadAllBytesAsync("meta.json", size, Ct));
        Assert.Equal(content, await store.ReadAllBytesAsync("meta.json", size + 1, Ct));
        if (size > 0)
        {
            var ex = await Assert.ThrowsAsync<PgVaultException>(() => store.ReadAllBytesAsync("meta.json", size - 1, Ct));
            Assert.Equal(ErrorCode.ObjectCorrupt, ex.Code);
            Assert.Contains("'meta.json'", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ReadAllBytes_of_an_absent_object_throws_ObjectNotFound()
    {
        var store = new InMemoryObjectStore();
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.ReadAllBytesAsync("nope", 10, Ct));
    }

    [Fact]
    public async Task ListKeys_returns_the_keys_in_order()
    {
        var store = new InMemoryObjectStore();
        foreach (var key in new[] { "p/b", "p/a", "q/a", "p/c/d" })
            await store.WriteBytesAsync(key, new byte[] { 1 }, Ct);

        Assert.Equal(["p/a", "p/b", "p/c/d"], await store.ListKeysAsync("p/", Ct));
    }

    [Fact]
    public async Task DeleteByPrefix_deletes_in_batches_of_1000_and_only_under_the_prefix()
    {
        var inner = new InMemoryObjectStore();
        var store = new BatchRecordingStore(inner);
        for (var i = 0; i < 2500; i++)
            await inner.WriteBytesAsync($"expire/{i:D5}", new byte[] { 1 }, Ct);
        await inner.WriteBytesAsync("expired-not", new byte[] { 1 }, Ct);
        await inner.WriteBytesAsync("keep/x", new byte[] { 1 }, Ct);

        var deleted = await store.DeleteByPrefixAsync("expire/", Ct);

        Assert.Equal(2500, deleted);
        Assert.Equal([1000, 1000, 500], store.Batches);
        Assert.Equal(["expired-not", "keep/x"], await inner.ListKeysAsync("", Ct));
        Assert.Equal(0, await store.DeleteByPrefixAsync("expire/", Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => store.DeleteByPrefixAsync("", Ct));
    }

    [Fact]
    public async Task DeleteByPrefix_on_the_local_store_removes_files_and_folders()
    {
        var store = new LocalObjectStore(_dir.Path);
        for (var i = 0; i < 30; i++)
            await store.WriteBytesAsync($"chain/{i % 4}/{i:D3}", new byte[] { 1 }, Ct);
        await store.WriteBytesAsync("other/x", new byte[] { 1 }, Ct);

        Assert.Equal(30, await store.DeleteByPrefixAsync("chain/", Ct));

        Assert.Equal(["other/x"], await store.ListKeysAsync("", Ct));
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, "chain")));
    }

    [Fact]
    public async Task Copy_streams_an_object_within_and_across_stores()
    {
        var memory = new InMemoryObjectStore();
        var local = new LocalObjectStore(_dir.Path);
        var content = TestData.Bytes(2 * 1024 * 1024 + 1, 4);
        await memory.WriteBytesAsync("src/obj", content, Ct);

        var within = await memory.CopyAsync("src/obj", "dst/obj", Ct);
        var across = await memory.CopyAsync("src/obj", local, "copied/obj", Ct);

        Assert.Equal(content.Length, within.SizeBytes);
        Assert.Equal(content.Length, across.SizeBytes);
        Assert.Equal(content, await memory.ReadAllBytesAsync("dst/obj", content.Length, Ct));
        Assert.Equal(content, await local.ReadAllBytesAsync("copied/obj", content.Length, Ct));
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => memory.CopyAsync("src/none", "dst/none", Ct));
        Assert.False(await memory.ExistsAsync("dst/none", Ct));
    }

    /// <summary>Passes everything to an inner store and records the size of every delete batch.</summary>
    private sealed class BatchRecordingStore(IObjectStore inner) : IObjectStore
    {
        public List<int> Batches { get; } = [];

        public string Kind => inner.Kind;

        public ObjectStoreCapabilities Capabilities => inner.Capabilities;

        public IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, CancellationToken ct) => inner.ListAsync(prefix, ct);

        public Task<ObjectInfo?> StatAsync(string key, CancellationToken ct) => inner.StatAsync(key, ct);

        public Task<Stream> OpenReadAsync(string key, ReadRange range, CancellationToken ct) => inner.OpenReadAsync(key, range, ct);

        public Task<ObjectInfo> WriteAsync(string key, Stream content, CancellationToken ct) => inner.WriteAsync(key, content, ct);

        public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken ct)
        {
            Batches.Add(keys.Count);
            return inner.DeleteAsync(keys, ct);
        }
    }
}

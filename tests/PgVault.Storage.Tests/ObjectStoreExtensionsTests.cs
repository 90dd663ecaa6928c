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
}

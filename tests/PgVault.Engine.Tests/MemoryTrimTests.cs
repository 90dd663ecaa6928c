using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// The full collection that gives a finished base backup's memory back: made once the last bulk work of the process has
/// ended, not while some still runs.
/// </summary>
public sealed class MemoryTrimTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_last_bulk_work_to_end_brings_a_full_collection()
    {
        var before = MemoryTrim.Collections;
        var gen2 = GC.CollectionCount(2);
        var first = MemoryTrim.Enter();
        var second = MemoryTrim.Enter();
        first.Dispose();
        first.Dispose(); // a second dispose does not count as another end
        second.Dispose();

        var deadline = DateTime.UtcNow + MemoryTrim.Delay + TimeSpan.FromSeconds(30);
        while (MemoryTrim.Collections == before && DateTime.UtcNow < deadline)
            await Task.Delay(50, Ct);

        Assert.True(MemoryTrim.Collections > before, "no collection after the last bulk work ended");
        Assert.True(GC.CollectionCount(2) > gen2);
    }

    [Fact]
    public void Collect_compacts_the_heap_and_returns_what_it_freed()
    {
        // Large arrays (the large object heap) that become garbage, as a base backup's buffers do.
        var garbage = new List<byte[]>();
        for (var i = 0; i < 64; i++)
            garbage.Add(GC.AllocateUninitializedArray<byte>(1 << 20));
        garbage.Clear();

        MemoryTrim.Collect();

        var info = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        Assert.True(info.Compacted, "the full collection did not compact");
        Assert.True(info.Generation == GC.MaxGeneration);
    }
}

using System.Runtime;
using Microsoft.Extensions.Logging;

namespace PgVault.Engine;

/// <summary>
/// Gives the memory of finished bulk work (base backups) back to the operating system. A base backup allocates tens of
/// MiB (pipes, compression and write buffers) that are garbage once it ends, but an idle streaming process allocates
/// so little that the garbage collector may not run a full collection for hours: the heap, and the RSS, stay at the
/// size that N simultaneous first base backups reached (bench/fleet measured ~40 MB per idle cluster). Once the last
/// running piece of bulk work of the process ends (and stays ended for <see cref="Delay"/>), one aggressive full
/// collection compacts the heap, the large object heap included, and decommits what it freed. Thread-safe.
/// </summary>
public static class MemoryTrim
{
    private static int _busy;
    private static int _scheduled;
    private static long _collections;

    /// <summary>How long the process must stay without bulk work before the collection (a burst of backups collects once).</summary>
    public static TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Full collections made so far (for tests and metrics).</summary>
    public static long Collections => Interlocked.Read(ref _collections);

    /// <summary>
    /// Marks bulk work as running until the handle is disposed; the last one to end schedules the collection, which
    /// <paramref name="logger"/> (of the last one) reports.
    /// </summary>
    public static IDisposable Enter(ILogger? logger = null)
    {
        Interlocked.Increment(ref _busy);
        return new Work(logger);
    }

    /// <summary>
    /// Compacts the whole heap now and returns the freed memory to the operating system; returns the memory the garbage
    /// collector had committed before and after, in bytes.
    /// </summary>
    public static (long Before, long After) Collect()
    {
        var before = GC.GetGCMemoryInfo().TotalCommittedBytes;
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Interlocked.Increment(ref _collections);
        return (before, GC.GetGCMemoryInfo().TotalCommittedBytes);
    }

    private static void Leave(ILogger? logger)
    {
        if (Interlocked.Decrement(ref _busy) == 0 && Interlocked.Exchange(ref _scheduled, 1) == 0)
            _ = Task.Run(() => CollectWhenQuietAsync(logger));
    }

    private static async Task CollectWhenQuietAsync(ILogger? logger)
    {
        await Task.Delay(Delay).ConfigureAwait(false);
        Volatile.Write(ref _scheduled, 0);
        // Work that started meanwhile schedules its own collection when it ends.
        if (Volatile.Read(ref _busy) != 0)
            return;
        var (before, after) = Collect();
        logger?.LogInformation("memory: the base backups have ended; a full garbage collection took the heap from {Before} MiB to {After} MiB",
            before >> 20, after >> 20);
    }

    private sealed class Work(ILogger? logger) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                Leave(logger);
        }
    }
}

using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Postgres;

namespace PgVault.Engine.Wal;

/// <summary>
/// Stores finished segments whole, off the path that makes WAL durable (compressing 16 MiB must not hold back the newer
/// WAL's flushes: the RPO). It takes the segments the <see cref="WalFlusher"/> hands over (each one's every byte
/// already durable as pieces), stores each as one object, which deletes its pieces, and releases it from the
/// <see cref="WalSegmentBuffer"/>. It never moves the durable end, only the stored size.
/// </summary>
internal sealed class WalArchiver(
    WalSegmentBuffer buffer, ChainRepository repository, ClusterChain chain, uint timeline, Lsn start, EngineOptions engine, ILogger logger)
{
    /// <summary>
    /// First consolidates the segments just before the session's start that an earlier session left as pieces only (it
    /// stopped between a segment's last piece and its whole object), then stores what <paramref name="durable"/> hands
    /// over until the flusher completes it.
    /// </summary>
    public async Task RunAsync(ChannelReader<WalBufferedSegment> durable, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(durable);
        var first = WalSegment.Number(start);
        for (var n = first - Math.Min(first, (ulong)WalStreamer.MaxQueuedSegments + 1); n < first; n++)
            await ConsolidateAsync(n, ct).ConfigureAwait(false);

        await foreach (var segment in durable.ReadAllAsync(ct).ConfigureAwait(false))
        {
            if (segment.Spilled)
                await StoreFromPiecesAsync(segment.Number, ct).ConfigureAwait(false);
            else
                await StoreWholeAsync(segment.Number, segment.Content(), ct).ConfigureAwait(false);
            buffer.Release(segment);
        }
    }

    /// <summary>
    /// A segment that let go of its bytes (open longer than <see cref="EngineOptions.WalSegmentMemoryHold"/>): every byte
    /// is durable as pieces, read back (each checked against its SHA-256) and stored whole. Pieces that do not cover it
    /// are an error, never a segment stored short.
    /// </summary>
    private async Task StoreFromPiecesAsync(ulong number, CancellationToken ct)
    {
        var stored = await repository.ReadWalSegmentAsync(timeline, number, ct).ConfigureAwait(false);
        if (stored is not { Covered: var covered } || covered != WalSegment.DefaultSizeBytes)
        {
            throw new PgVault.Errors.PgVaultException(PgVault.Errors.ErrorCode.WalStreamFailed,
                $"WAL segment {WalSegment.Name(timeline, number)}: its pieces in the repository cover {stored?.Covered ?? 0} of its " +
                $"{WalSegment.DefaultSizeBytes} bytes although every byte was made durable");
        }

        await StoreWholeAsync(number, new System.Buffers.ReadOnlySequence<byte>(stored.Value.Data), ct).ConfigureAwait(false);
    }

    private async Task ConsolidateAsync(ulong number, CancellationToken ct)
    {
        if (!await repository.HasWalPiecesAsync(timeline, number, ct).ConfigureAwait(false))
            return;
        var stored = await repository.ReadWalSegmentAsync(timeline, number, ct).ConfigureAwait(false);
        if (stored is { Covered: var covered } && covered == WalSegment.DefaultSizeBytes)
        {
            logger.LogInformation("cluster {Cluster}: storing WAL segment {Segment} whole from its pieces (left by an earlier session)",
                chain.Cluster.Id, WalSegment.Name(timeline, number));
            await StoreWholeAsync(number, new System.Buffers.ReadOnlySequence<byte>(stored.Value.Data), ct).ConfigureAwait(false);
        }
    }

    private async Task StoreWholeAsync(ulong number, System.Buffers.ReadOnlySequence<byte> data, CancellationToken ct)
    {
        var delta = await repository.StoreWalSegmentAsync(timeline, number, data, engine.CompressionLevel, ct).ConfigureAwait(false);
        // The durable end is the flusher's; this only moves the stored size (the segment's end is durable already).
        await chain.OnWalDurableAsync(WalSegment.Start(number + 1), timeline, delta, ct).ConfigureAwait(false);
    }
}

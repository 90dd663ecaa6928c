using System.Threading.Channels;
using Npgsql.Replication;
using NpgsqlTypes;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Postgres;

namespace PgVault.Engine.Wal;

/// <summary>
/// Makes received WAL durable: every <see cref="EngineOptions.WalFlushInterval"/>, or at once when asked (a segment was
/// sealed, a caller waits for a position), it writes what the <see cref="WalSegmentBuffer"/> holds beyond the durable
/// end as pieces (a sealed segment's tail too), then moves the durable end: the lag tracker, the server (only now may it
/// forget this WAL) and the chain. It alone moves the durable end. Each sealed segment whose tail is durable is handed
/// to the <see cref="WalArchiver"/> through <see cref="Durable"/>, oldest first; the handover ends when the flusher does.
/// </summary>
internal sealed class WalFlusher(
    WalSegmentBuffer buffer, ChainRepository repository, ClusterChain chain, uint timeline, Lsn start, EngineOptions engine, TimeProvider time,
    ReplicationConnection conn, WalLagTracker lag)
{
    // Flush requests: one pending is enough (a flush takes everything received). Completed when receiving ended.
    private readonly Channel<bool> _requests = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Channel<WalBufferedSegment> _durable = Channel.CreateUnbounded<WalBufferedSegment>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>The WAL end durable in the repository.</summary>
    public Lsn DurableEnd { get; private set; } = start;

    /// <summary>The handover to the archiver: sealed segments whose every byte is durable as pieces, oldest first.</summary>
    public ChannelReader<WalBufferedSegment> Durable => _durable.Reader;

    /// <summary>Flush now instead of at the next interval.</summary>
    public void RequestFlush() => _requests.Writer.TryWrite(true);

    /// <summary>Receiving ended: flush what is left now, then stop.</summary>
    public void Complete() => _requests.Writer.TryComplete();

    /// <summary>
    /// Flushes until <see cref="Complete"/> (then once more, for everything received) or a failure; either way the
    /// handover to the archiver is completed, with the failure if there was one.
    /// </summary>
    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            await FlushUntilDoneAsync(ct).ConfigureAwait(false);
            _durable.Writer.TryComplete();
        }
        catch (Exception ex)
        {
            _durable.Writer.TryComplete(ex);
            throw;
        }
    }

    private async Task FlushUntilDoneAsync(CancellationToken ct)
    {
        // Flushes start every WalFlushInterval (not an interval after the previous one ended), so WAL waits at most
        // about one interval plus one flush to be durable, however long the flushes take.
        var lastFlush = time.GetUtcNow();
        while (true)
        {
            var due = lastFlush + engine.WalFlushInterval - time.GetUtcNow();
            if (due > TimeSpan.Zero && !_requests.Reader.TryRead(out _) && !_requests.Reader.Completion.IsCompleted)
            {
                using var tick = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var delay = Task.Delay(due, time, tick.Token);
                var requested = _requests.Reader.WaitToReadAsync(tick.Token).AsTask();
                await Task.WhenAny(delay, requested).ConfigureAwait(false); // Complete() ends the wait: flush what is left now
                await tick.CancelAsync().ConfigureAwait(false);
            }

            while (_requests.Reader.TryRead(out _))
            {
                // one flush answers every request made so far
            }

            ct.ThrowIfCancellationRequested();
            // Read before the flush: once receiving has ended, this flush takes everything received.
            var done = _requests.Reader.Completion.IsCompleted;
            lastFlush = time.GetUtcNow();
            await FlushAsync(ct).ConfigureAwait(false);
            await chain.OnStoringAsync(ct).ConfigureAwait(false);
            if (done)
                return;
        }
    }

    /// <summary>Makes everything received durable: the tails of sealed segments, then the segment being received.</summary>
    private async Task FlushAsync(CancellationToken ct)
    {
        while (buffer.TryTakeUnflushed(out var segment, out var from, out var bytes))
        {
            var to = from + bytes.Length;
            chain.Fence.ThrowIfLost(); // a paused instance that lost the cluster writes no more WAL
            var stored = await repository.WriteWalPieceAsync(timeline, segment.Number, from, to, bytes, engine.CompressionLevel, ct)
                .ConfigureAwait(false);
            var tailDurable = buffer.MarkFlushed(segment, to);
            await MarkDurableAsync(WalSegment.Start(segment.Number) + to, stored, ct).ConfigureAwait(false);
            if (tailDurable)
                _durable.Writer.TryWrite(segment);
        }

        buffer.Trim(); // a quiet cluster's segment lets go of what is durable
    }

    private async Task MarkDurableAsync(Lsn end, long storedDelta, CancellationToken ct)
    {
        if (end > DurableEnd)
            DurableEnd = end;
        lag.Durable(DurableEnd);
        // Only now may the server forget this WAL.
        conn.SetReplicationStatus(new NpgsqlLogSequenceNumber(DurableEnd.Value));
        await chain.OnWalDurableAsync(DurableEnd, timeline, storedDelta, ct).ConfigureAwait(false);
    }
}

using System.Globalization;
using Microsoft.Extensions.Logging;
using Npgsql.Replication;
using NpgsqlTypes;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Engine.Postgres;
using PgVault.Engine.Repository;
using PgVault.Errors;
using PgVault.Postgres;

namespace PgVault.Engine.Wal;

/// <summary>
/// Streams one cluster's WAL into its active chain through a physical replication slot (Npgsql's
/// <see cref="PhysicalReplicationConnection"/>). Each connection is a session of three parts: this class receives into a
/// <see cref="WalSegmentBuffer"/>; the <see cref="WalFlusher"/> makes it durable every
/// <see cref="EngineOptions.WalFlushInterval"/> as small pieces, and the server is told the flush position only after
/// the data is durable, so the slot keeps on the server whatever is not yet in the repository; the
/// <see cref="WalArchiver"/> stores each finished segment as one object once the flusher hands it over.
/// Memory is bounded: the segment being received plus at most <see cref="MaxQueuedSegments"/> complete ones waiting
/// for the archiver besides the one it stores, taken in chunks as WAL arrives; a quiet cluster's segment holds only the
/// WAL not yet durable (<see cref="EngineOptions.WalSegmentMemoryHold"/>).
/// </summary>
public sealed class WalStreamer(ClusterChain chain, EngineOptions engine, TimeProvider time, ILogger logger)
{
    public const int MaxQueuedSegments = 2;
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private DateTimeOffset? _unstoredSince;

    // Why the last session found WAL lost (the server removed WAL not yet stored), for the next one to start a new chain.
    private string? _walLost;

    /// <summary>The WAL end durable in the repository, for tests and metrics.</summary>
    public Lsn DurableEnd { get; private set; }

    /// <summary>
    /// Why the last connection was refused because the cluster runs a PostgreSQL major PgVault does not support
    /// (<see cref="ErrorCode.PostgresMajorUnsupported"/>), or null; <c>GET /readyz</c> reports it. Nothing is written
    /// to the repository for such a cluster.
    /// </summary>
    public PgVaultException? UnsupportedMajor { get; private set; }

    private WalFlusher? _flusher;

    /// <summary>
    /// Makes what has been received durable now instead of at the next <see cref="EngineOptions.WalFlushInterval"/>
    /// (for a caller waiting for a position, e.g. the end of a base backup). No effect while not streaming.
    /// </summary>
    public void RequestFlush() => Volatile.Read(ref _flusher)?.RequestFlush();

    /// <summary>The server's WAL end and the age of WAL received but not yet durable (metrics read it).</summary>
    public WalLagTracker Lag { get; } = new();

    /// <summary>How long a stop lets a session store what it received (see <see cref="RunAsync"/>).</summary>
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);

    /// <summary>Runs until cancelled: connects, streams, and reconnects with backoff after any failure. When cancelled,
    /// the session stops receiving and has up to <see cref="StopGrace"/> to make the WAL it received durable and to
    /// store its finished segments whole.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!ct.IsCancellationRequested)
        {
            string? interruption = null; // why streaming stopped, for the cluster's history
            try
            {
                await StreamOnceAsync(ct).ConfigureAwait(false);
                backoff = TimeSpan.FromSeconds(1); // a clean end (timeline switch): reconnect at once
                continue;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (PostgresErrors.IsEndOfTimeline(ex))
            {
                // The server ended the timeline (a promotion); Npgsql reports the end of the stream as an error.
                logger.LogInformation("cluster {Cluster}: the server ended the timeline being streamed; reconnecting", chain.Cluster.Id);
                backoff = TimeSpan.FromSeconds(1);
                continue;
            }
            catch (Exception ex) when (PostgresErrors.IsWalRemoved(ex))
            {
                // The server removed WAL PgVault had not stored (max_slot_wal_keep_size): the chain cannot go on.
                _walLost = $"the server removed it before it was stored: {ex.Message}";
                interruption = $"WAL removed by the server before it was stored: {ex.Message}";
                logger.LogWarning("cluster {Cluster}: {Error}; starting a new backup", chain.Cluster.Id, ex.Message);
                backoff = TimeSpan.FromSeconds(1);
                continue;
            }
            catch (Npgsql.PostgresException ex) when (ex.SqlState == Npgsql.PostgresErrorCodes.ObjectInUse && chain.Fence != Fleet.ClusterFence.None
                                                      && chain.Fence.IsHeld)
            {
                // The slot is read by an instance that lost the cluster (paused, cut off): the lease holder wins.
                interruption = $"replication slot {chain.Cluster.SlotName} in use by another reader";
                var ended = await TerminateSlotReaderAsync(ct).ConfigureAwait(false);
                logger.LogWarning("cluster {Cluster}: replication slot {Slot} is in use by another reader ({Error}); {Action}", chain.Cluster.Id,
                    chain.Cluster.SlotName, ex.MessageText, ended ? "ended it, reconnecting" : "retrying");
                backoff = TimeSpan.FromSeconds(1);
            }
            catch (PgVaultException ex) when (ex.Code == ErrorCode.PostgresMajorUnsupported)
            {
                interruption = ex.Message;
                logger.LogError("cluster {Cluster}: {Error} ({Code}); HINT: {Hint}; checking again in {Delay:0} s",
                    chain.Cluster.Id, ex.Message, ex.Code.Code, ex.Hint, MaxBackoff.TotalSeconds);
                backoff = MaxBackoff;
            }
            catch (Exception ex)
            {
                interruption = $"WAL streaming interrupted: {ex.Message}";
                logger.LogWarning("cluster {Cluster}: WAL streaming interrupted: {Error}; retrying in {Delay:0} s",
                    chain.Cluster.Id, ex.Message, backoff.TotalSeconds);
                logger.LogDebug(ex, "cluster {Cluster}: WAL streaming failure", chain.Cluster.Id);
            }

            try
            {
                // Unstored WAL counts from when it arrived: a repository that fails for a while before the session gives up
                // has been failing all that time.
                var unstoredSince = _unstoredSince;
                _unstoredSince = null;
                await chain.SetStreamingAsync(false, ct, unstoredSince, interruption).ConfigureAwait(false);
                await Task.Delay(backoff, time, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (Exception ex)
            {
                logger.LogWarning("cluster {Cluster}: could not record the streaming state: {Error}", chain.Cluster.Id, ex.Message);
            }

            backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, backoff.Ticks * 2));
        }
    }

    private async Task<bool> TerminateSlotReaderAsync(CancellationToken ct)
    {
        try
        {
            return await new PostgresServer(chain.Cluster.ConnectionString).TerminateSlotReaderAsync(chain.Cluster.SlotName, ct).ConfigureAwait(false);
        }
        catch (Npgsql.NpgsqlException ex)
        {
            logger.LogWarning("cluster {Cluster}: could not end the other reader of replication slot {Slot}: {Error}", chain.Cluster.Id,
                chain.Cluster.SlotName, ex.Message);
            return false;
        }
    }

    /// <summary>One connection's life: identify, choose the chain, stream until the server ends the timeline or an error.</summary>
    public async Task StreamOnceAsync(CancellationToken ct)
    {
        chain.Fence.ThrowIfLost(); // an instance that lost the cluster does not connect again
        var conn = new PhysicalReplicationConnection(WalReplication.ConnectionString(chain.Cluster.ConnectionString))
        {
            WalReceiverStatusInterval = TimeSpan.FromSeconds(1),
        };
        await using (conn.ConfigureAwait(false))
        {
            await conn.Open(ct).ConfigureAwait(false);
            // The gate: a major PgVault does not support gets no chain, no slot, no object in the repository.
            PostgresMajor postgresMajor;
            try
            {
                postgresMajor = PostgresMajor.Require(await WalReplication.ServerMajorAsync(conn, ct).ConfigureAwait(false), $"cluster '{chain.Cluster.Id}'");
            }
            catch (PgVaultException ex)
            {
                UnsupportedMajor = ex;
                throw;
            }

            UnsupportedMajor = null;
            var system = await conn.IdentifySystem(ct).ConfigureAwait(false);
            var major = postgresMajor.ToString();
            // A new chain starts at the last checkpoint's redo point (the server keeps that WAL for crash recovery): a base
            // backup taken from a standby starts at a restartpoint, which can lie before the current position.
            var position = new Lsn((ulong)system.XLogPos);
            var redo = await RedoPointAsync(ct).ConfigureAwait(false);
            var chainStart = redo is { } r && r < position ? r : position;
            var slotName = chain.Cluster.SlotName;
            var walLost = await LostSlotAsync(conn, slotName, ct).ConfigureAwait(false) ?? _walLost;
            var (start, timeline) = await chain.EnsureChainAsync(
                system.SystemId.ToString(CultureInfo.InvariantCulture), system.Timeline, chainStart, major,
                tli => WalReplication.FetchHistoryAsync(conn, new PostgresServer(chain.Cluster.ConnectionString), chain.Cluster.Id, tli, ct),
                ct, walLost).ConfigureAwait(false);
            _walLost = null;

            var slot = await SlotAsync(conn, postgresMajor, slotName, ct).ConfigureAwait(false);
            var current = chain.Current!;
            Lag.Connected(position, new Lsn(current.EndLsn ?? start.Value));
            logger.LogInformation("cluster {Cluster}: streaming WAL from {Lsn} on timeline {Timeline} into {Backup} (slot {Slot})",
                chain.Cluster.Id, start, timeline, current.Id, slotName);

            var repository = new ChainRepository(chain.Store, chain.Cluster.Id, chain.ChainId!);
            using var buffer = new WalSegmentBuffer(start, time, engine.WalSegmentMemoryHold);
            var flusher = new WalFlusher(buffer, repository, chain, timeline, start, engine, time, conn, Lag);
            var archiver = new WalArchiver(buffer, repository, chain, timeline, start, engine, logger);
            Volatile.Write(ref _flusher, flusher);
            // A stop ends the receiving at once, but the flusher and archiver get StopGrace to make what was received
            // durable and store the finished segments whole, so a stopped service leaves a tidy repository (a crash
            // leaves pieces, which the next session consolidates; the slot keeps anything not yet durable).
            using var stop = new CancellationTokenSource();
            using var graceful = ct.Register(static s => ((CancellationTokenSource)s!).CancelAfter(StopGrace), stop);
            var storing = StoreAsync(buffer, flusher, archiver, stop.Token);
            try
            {
                await chain.SetStreamingAsync(true, ct).ConfigureAwait(false);
                await foreach (var message in conn.StartReplication(slot, new NpgsqlLogSequenceNumber(start.Value), ct, timeline)
                                   .ConfigureAwait(false))
                {
                    Lag.ObserveServerEnd(new Lsn((ulong)message.WalEnd));
                    // A sealed segment is flushed at once: the archiver stores a segment whole only once its tail is
                    // durable, and waiting for the next interval would hold the receiver up (backpressure) when WAL comes
                    // faster than MaxQueuedSegments per interval.
                    await buffer.AppendAsync(new Lsn((ulong)message.WalStart), message.Data, flusher.RequestFlush, ct).ConfigureAwait(false);
                    Lag.Received(buffer.ReceivedEnd, time.GetUtcNow());
                    if (storing.IsCompleted)
                        await storing.ConfigureAwait(false); // surfaces a storage failure
                }

                logger.LogInformation("cluster {Cluster}: the server ended timeline {Timeline} at {Lsn}", chain.Cluster.Id, timeline,
                    buffer.ReceivedEnd);
            }
            finally
            {
                flusher.Complete();
                try
                {
                    await storing.ConfigureAwait(false);
                    logger.LogDebug("cluster {Cluster}: streaming session ended; received up to {Received}, durable up to {Durable}",
                        chain.Cluster.Id, buffer.ReceivedEnd, flusher.DurableEnd);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested && LogUnstored(buffer.ReceivedEnd, flusher.DurableEnd))
                {
                    // not reached: LogUnstored returns false, the cancellation goes on
                }
                finally
                {
                    Volatile.Write(ref _flusher, null);
                    DurableEnd = flusher.DurableEnd;
                    _unstoredSince = Lag.OldestPendingSince;
                    Lag.Disconnected();
                }
            }
        }

        bool LogUnstored(Lsn received, Lsn durable)
        {
            if (durable < received)
            {
                logger.LogWarning("cluster {Cluster}: stopped before the WAL received up to {Received} was stored (durable up to " +
                    "{Durable}, {Grace:0} s allowed); the replication slot keeps the rest for the next start", chain.Cluster.Id,
                    received, durable, StopGrace.TotalSeconds);
            }

            return false;
        }
    }

    /// <summary>
    /// Runs a session's flusher and archiver until the flusher is completed (then both finish their work) or one fails;
    /// a failure stops the other one and frees a receiver waiting for room, and is what this reports.
    /// </summary>
    private static async Task StoreAsync(WalSegmentBuffer buffer, WalFlusher flusher, WalArchiver archiver, CancellationToken ct)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var flushing = GuardAsync(flusher.RunAsync);
        var archiving = GuardAsync(token => archiver.RunAsync(flusher.Durable, token));
        var both = Task.WhenAll(flushing, archiving);
        try
        {
            await both.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (both.Exception?.InnerExceptions.FirstOrDefault(e => e is not OperationCanceledException) is { } cause)
        {
            // The loop that failed cancelled the other one: report its failure, not the other's cancellation.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(cause);
        }

        async Task GuardAsync(Func<CancellationToken, Task> work)
        {
            try
            {
                await work(failed.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Nobody releases segments any more: a receiver waiting for room (backpressure) must not wait forever on a
                // connection the server keeps alive. The session ends and this error is what the streamer reports.
                buffer.Close();
                await failed.CancelAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>
    /// Why the cluster's replication slot cannot serve the chain any more, or null: a slot PostgreSQL invalidated
    /// (<c>wal_status = 'lost'</c>, past <c>max_slot_wal_keep_size</c>) is dropped, so <see cref="SlotAsync"/> makes a new
    /// one. A slot about to lose WAL (<c>unreserved</c>) is only warned about: nothing is lost yet.
    /// </summary>
    private async Task<string?> LostSlotAsync(PhysicalReplicationConnection conn, string slotName, CancellationToken ct)
    {
        string? status;
        try
        {
            status = await new PostgresServer(chain.Cluster.ConnectionString).ReplicationSlotWalStatusAsync(slotName, ct).ConfigureAwait(false);
        }
        catch (Npgsql.NpgsqlException ex)
        {
            logger.LogDebug("cluster {Cluster}: could not read the replication slot's wal_status ({Error})", chain.Cluster.Id, ex.Message);
            return null;
        }

        if (string.Equals(status, "unreserved", StringComparison.Ordinal))
        {
            logger.LogWarning("cluster {Cluster}: replication slot {Slot} is about to lose WAL (wal_status = unreserved): " +
                "the server may remove WAL PgVault has not stored yet at its next checkpoint", chain.Cluster.Id, slotName);
        }

        if (!string.Equals(status, "lost", StringComparison.Ordinal))
            return null;
        await conn.DropReplicationSlot(slotName, cancellationToken: ct).ConfigureAwait(false);
        return $"replication slot '{slotName}' was invalidated by the server (wal_status = lost, past max_slot_wal_keep_size); it was dropped and is created again";
    }

    /// <summary>The cluster's replication slot, created (reserving WAL) when it does not exist yet.</summary>
    private static async Task<PhysicalReplicationSlot> SlotAsync(PhysicalReplicationConnection conn, PostgresMajor major, string slotName,
        CancellationToken ct)
    {
        if (major.ReadReplicationSlot)
        {
            return await conn.ReadReplicationSlot(slotName, ct).ConfigureAwait(false)
                   ?? await conn.CreateReplicationSlot(slotName, isTemporary: false, reserveWal: true, ct).ConfigureAwait(false);
        }

        // Without READ_REPLICATION_SLOT: create it, and an existing one answers "already exists" (SQLSTATE 42710).
        try
        {
            return await conn.CreateReplicationSlot(slotName, isTemporary: false, reserveWal: true, ct).ConfigureAwait(false);
        }
        catch (Npgsql.PostgresException ex) when (ex.SqlState == Npgsql.PostgresErrorCodes.DuplicateObject)
        {
            return new PhysicalReplicationSlot(slotName);
        }
    }

    /// <summary>The redo point of the server's last checkpoint (or restartpoint), or null when it cannot be read.</summary>
    private async Task<Lsn?> RedoPointAsync(CancellationToken ct)
    {
        try
        {
            return await new PostgresServer(chain.Cluster.ConnectionString).RedoPointAsync(ct).ConfigureAwait(false);
        }
        catch (Npgsql.NpgsqlException ex)
        {
            logger.LogDebug("cluster {Cluster}: could not read the checkpoint's redo point ({Error}); a new chain starts at the current position",
                chain.Cluster.Id, ex.Message);
            return null;
        }
    }
}

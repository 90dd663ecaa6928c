using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Npgsql.Replication;
using NpgsqlTypes;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Engine.Postgres;
using PgVault.Engine.Repository;
using PgVault.Errors;
using PgVault.Postgres;
using PgVault.Storage;

namespace PgVault.Engine.Wal;

/// <summary>
/// Streams one cluster's WAL into its active chain through a physical replication slot (Npgsql's
/// <see cref="PhysicalReplicationConnection"/>). Complete segments are stored as one object each; the segment being
/// written is made durable every <see cref="EngineOptions.WalFlushInterval"/> as small pieces, and the server is told the
/// flush position only after the data is durable, so the slot keeps on the server whatever is not yet in the repository.
/// Memory is bounded: the segment being received plus at most <see cref="MaxQueuedSegments"/> complete ones.
/// </summary>
public sealed class WalStreamer(ClusterChain chain, EngineOptions engine, TimeProvider time, ILogger logger)
{
    public const int MaxQueuedSegments = 2;
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private DateTimeOffset? _unstoredSince;

    /// <summary>The WAL end durable in the repository, for tests and metrics.</summary>
    public Lsn DurableEnd { get; private set; }

    /// <summary>
    /// Why the last connection was refused because the cluster runs a PostgreSQL major PgVault does not support
    /// (<see cref="ErrorCode.PostgresMajorUnsupported"/>), or null; <c>GET /readyz</c> reports it. Nothing is written
    /// to the repository for such a cluster.
    /// </summary>
    public PgVaultException? UnsupportedMajor { get; private set; }

    private StreamSession? _session;

    /// <summary>
    /// Makes what has been received durable now instead of at the next <see cref="EngineOptions.WalFlushInterval"/>
    /// (for a caller waiting for a position, e.g. the end of a base backup). No effect while not streaming.
    /// </summary>
    public void RequestFlush() => Volatile.Read(ref _session)?.RequestFlush();

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
            catch (PgVaultException ex) when (ex.Code == ErrorCode.PostgresMajorUnsupported)
            {
                logger.LogError("cluster {Cluster}: {Error} ({Code}); HINT: {Hint}; checking again in {Delay:0} s",
                    chain.Cluster.Id, ex.Message, ex.Code.Code, ex.Hint, MaxBackoff.TotalSeconds);
                backoff = MaxBackoff;
            }
            catch (Exception ex)
            {
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
                await chain.SetStreamingAsync(false, ct, unstoredSince).ConfigureAwait(false);
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

    /// <summary>One connection's life: identify, choose the chain, stream until the server ends the timeline or an error.</summary>
    public async Task StreamOnceAsync(CancellationToken ct)
    {
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
            var (start, timeline) = await chain.EnsureChainAsync(
                system.SystemId.ToString(CultureInfo.InvariantCulture), system.Timeline, chainStart, major,
                tli => WalReplication.FetchHistoryAsync(conn, new PostgresServer(chain.Cluster.ConnectionString), chain.Cluster.Id, tli, ct),
                ct).ConfigureAwait(false);

            var slotName = chain.Cluster.SlotName;
            var slot = await SlotAsync(conn, postgresMajor, slotName, ct).ConfigureAwait(false);
            var current = chain.Current!;
            Lag.Connected(position, new Lsn(current.EndLsn ?? start.Value));
            logger.LogInformation("cluster {Cluster}: streaming WAL from {Lsn} on timeline {Timeline} into {Backup} (slot {Slot})",
                chain.Cluster.Id, start, timeline, current.Id, slotName);

            using var session = new StreamSession(chain, ChainClusterChainId(), timeline, start, engine, time, logger, conn, Lag);
            Volatile.Write(ref _session, session);
            // A stop ends the receiving at once, but the flusher and archiver get StopGrace to make what was received
            // durable and store the finished segments whole, so a stopped service leaves a tidy repository (a crash
            // leaves pieces, which the next session consolidates; the slot keeps anything not yet durable).
            using var stop = new CancellationTokenSource();
            using var graceful = ct.Register(static s => ((CancellationTokenSource)s!).CancelAfter(StopGrace), stop);
            var flusher = session.RunAsync(stop.Token);
            try
            {
                await chain.SetStreamingAsync(true, ct).ConfigureAwait(false);
                await foreach (var message in conn.StartReplication(slot, new NpgsqlLogSequenceNumber(start.Value), ct, timeline)
                                   .ConfigureAwait(false))
                {
                    Lag.ObserveServerEnd(new Lsn((ulong)message.WalEnd));
                    await session.AppendAsync(new Lsn((ulong)message.WalStart), message.Data, ct).ConfigureAwait(false);
                    Lag.Received(session.ReceivedEnd, time.GetUtcNow());
                    if (flusher.IsCompleted)
                        await flusher.ConfigureAwait(false); // surfaces a storage failure
                }

                logger.LogInformation("cluster {Cluster}: the server ended timeline {Timeline} at {Lsn}", chain.Cluster.Id, timeline,
                    session.ReceivedEnd);
            }
            finally
            {
                session.Complete();
                try
                {
                    await flusher.ConfigureAwait(false);
                    logger.LogDebug("cluster {Cluster}: streaming session ended; received up to {Received}, durable up to {Durable}",
                        chain.Cluster.Id, session.ReceivedEnd, session.DurableEnd);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested && LogUnstored(session))
                {
                    // not reached: LogUnstored returns false, the cancellation goes on
                }
                finally
                {
                    Volatile.Write(ref _session, null);
                    DurableEnd = session.DurableEnd;
                    _unstoredSince = Lag.OldestPendingSince;
                    Lag.Disconnected();
                }
            }
        }

        string ChainClusterChainId() => chain.ChainId!;

        bool LogUnstored(StreamSession session)
        {
            if (session.DurableEnd < session.ReceivedEnd)
            {
                logger.LogWarning("cluster {Cluster}: stopped before the WAL received up to {Received} was stored (durable up to " +
                    "{Durable}, {Grace:0} s allowed); the replication slot keeps the rest for the next start", chain.Cluster.Id,
                    session.ReceivedEnd, session.DurableEnd, StopGrace.TotalSeconds);
            }

            return false;
        }
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

    /// <summary>
    /// The receive buffer, the flusher and the archiver of one replication session. The flusher makes received WAL durable
    /// every <see cref="EngineOptions.WalFlushInterval"/> as pieces (a finished segment's tail too), and only it moves the
    /// durable end; the archiver then stores each finished segment as one object and deletes its pieces, off the path
    /// that makes WAL durable: compressing 16 MiB must not hold back the newer WAL's flushes (the RPO).
    /// </summary>
    private sealed class StreamSession : IDisposable
    {
        private readonly ClusterChain _chain;
        private readonly string _chainId;
        private readonly uint _timeline;
        private readonly Lsn _start;
        private readonly EngineOptions _engine;
        private readonly TimeProvider _time;
        private readonly ILogger _logger;
        private readonly ReplicationConnection _conn;
        private readonly WalLagTracker _lag;
        private readonly ChainRepository _repository;

        // Finished segments on their way to the archiver (bounded: the receiver waits when the archiver is behind).
        private readonly Channel<Segment> _finished = Channel.CreateBounded<Segment>(MaxQueuedSegments);

        // Finished segments not yet stored whole, oldest first; the flusher writes their tails (under _lock).
        private readonly List<Segment> _sealed = [];
        private readonly Lock _lock = new();
        private readonly CancellationTokenSource _doneOrCancelled = new();
        private TaskCompletionSource _flushRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Segment _segment;
        private volatile bool _done;

        public StreamSession(ClusterChain chain, string chainId, uint timeline, Lsn start, EngineOptions engine, TimeProvider time,
            ILogger logger, ReplicationConnection conn, WalLagTracker lag)
        {
            _lag = lag;
            _chain = chain;
            _chainId = chainId;
            _timeline = timeline;
            _start = start;
            _engine = engine;
            _time = time;
            _logger = logger;
            _conn = conn;
            _repository = new ChainRepository(chain.Store, chain.Cluster.Id, chainId);
            _segment = new Segment(WalSegment.Number(start));
            DurableEnd = start;
        }

        public Lsn DurableEnd { get; private set; }

        public Lsn ReceivedEnd
        {
            get
            {
                lock (_lock)
                    return WalSegment.Start(_segment.Number) + _segment.Written;
            }
        }

        public async Task AppendAsync(Lsn walStart, Stream data, CancellationToken ct)
        {
            var expected = ReceivedEnd;
            if (walStart != expected)
            {
                throw new PgVaultException(ErrorCode.WalStreamFailed,
                    $"WAL gap: the server sent data at {walStart}, expected {expected}");
            }

            var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                while (true)
                {
                    Segment segment;
                    int room;
                    lock (_lock)
                    {
                        segment = _segment;
                        room = (int)WalSegment.DefaultSizeBytes - segment.Written;
                    }

                    var read = await data.ReadAsync(chunk.AsMemory(0, Math.Min(chunk.Length, room)), ct).ConfigureAwait(false);
                    if (read == 0)
                        break;
                    lock (_lock)
                    {
                        Buffer.BlockCopy(chunk, 0, segment.Data, segment.Written, read);
                        segment.Written += read;
                    }

                    if (segment.Written == WalSegment.DefaultSizeBytes)
                    {
                        // Seal it, have the flusher write its tail now (the archiver stores a segment whole only once its
                        // tail is durable: waiting for the next interval would hold the receiver up when WAL comes faster
                        // than MaxQueuedSegments per interval), and hand it to the archiver (this waits when the archiver
                        // is MaxQueuedSegments behind: backpressure).
                        lock (_lock)
                        {
                            _sealed.Add(segment);
                            _segment = new Segment(segment.Number + 1);
                        }

                        RequestFlush();

                        await _finished.Writer.WriteAsync(segment, ct).ConfigureAwait(false);
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }
        }

        public void RequestFlush() => Volatile.Read(ref _flushRequested).TrySetResult();

        public void Complete()
        {
            _done = true;
            _finished.Writer.TryComplete();
            _doneOrCancelled.Cancel();
        }

        /// <summary>Runs the flusher and the archiver until <see cref="Complete"/> (then both finish their work) or a failure.</summary>
        public async Task RunAsync(CancellationToken ct)
        {
            using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var flusher = GuardAsync(FlushUntilDoneAsync);
            var archiver = GuardAsync(ArchiveUntilDoneAsync);
            var both = Task.WhenAll(flusher, archiver);
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
                catch (Exception ex)
                {
                    // Nobody drains the queue any more: a receiver waiting for room in it (backpressure) must not wait
                    // forever on a connection the server keeps alive. It gets a ChannelClosedException; the session ends
                    // and this error is what the streamer reports. The other loop stops too.
                    _finished.Writer.TryComplete(ex);
                    await failed.CancelAsync().ConfigureAwait(false);
                    throw;
                }
            }
        }

        private async Task FlushUntilDoneAsync(CancellationToken ct)
        {
            // Flushes start every WalFlushInterval (not an interval after the previous one ended), so WAL waits at most
            // about one interval plus one flush to be durable, however long the flushes take.
            using var wake = CancellationTokenSource.CreateLinkedTokenSource(ct, _doneOrCancelled.Token);
            var lastFlush = _time.GetUtcNow();
            while (true)
            {
                var due = lastFlush + _engine.WalFlushInterval - _time.GetUtcNow();
                var requested = Volatile.Read(ref _flushRequested);
                if (due > TimeSpan.Zero && !_done && !requested.Task.IsCompleted)
                {
                    using var tick = CancellationTokenSource.CreateLinkedTokenSource(wake.Token);
                    var delay = Task.Delay(due, _time, tick.Token);
                    await Task.WhenAny(delay, requested.Task).ConfigureAwait(false); // Complete() cancels the delay: flush what is left now
                    await tick.CancelAsync().ConfigureAwait(false);
                }

                if (requested.Task.IsCompleted)
                    Interlocked.CompareExchange(ref _flushRequested, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), requested);

                ct.ThrowIfCancellationRequested();
                var done = _done;
                lastFlush = _time.GetUtcNow();
                await FlushAsync(ct).ConfigureAwait(false);
                await _chain.OnStoringAsync(ct).ConfigureAwait(false);
                if (done)
                    return;
            }
        }

        /// <summary>Makes everything received durable: the tails of finished segments, then the segment being received.</summary>
        private async Task FlushAsync(CancellationToken ct)
        {
            while (true)
            {
                Segment? segment;
                int from, to;
                byte[] copy;
                lock (_lock)
                {
                    segment = _sealed.FirstOrDefault(s => s.Flushed < s.Written);
                    if (segment is null && _segment.Flushed < _segment.Written)
                        segment = _segment;
                    if (segment is null)
                        return;
                    from = segment.Flushed;
                    to = segment.Written;
                    copy = segment.Data.AsSpan(from, to - from).ToArray();
                }

                var stored = await _repository.WriteWalPieceAsync(_timeline, segment.Number, from, to, copy, _engine.CompressionLevel, ct)
                    .ConfigureAwait(false);
                lock (_lock)
                    segment.Flushed = Math.Max(segment.Flushed, to);
                if (to == WalSegment.DefaultSizeBytes)
                    segment.TailDurable.TrySetResult();
                await MarkDurableAsync(WalSegment.Start(segment.Number) + to, stored, ct).ConfigureAwait(false);
            }
        }

        /// <summary>
        /// Stores finished segments whole, each once its tail is durable as a piece, and deletes their pieces. First
        /// consolidates the segments just before the session's start that an earlier session left as pieces only (it
        /// stopped between a segment's last piece and its whole object).
        /// </summary>
        private async Task ArchiveUntilDoneAsync(CancellationToken ct)
        {
            var first = WalSegment.Number(_start);
            for (var n = first - Math.Min(first, (ulong)MaxQueuedSegments + 1); n < first; n++)
                await ConsolidateAsync(n, ct).ConfigureAwait(false);

            await foreach (var segment in _finished.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                await segment.TailDurable.Task.WaitAsync(ct).ConfigureAwait(false);
                await StoreWholeAsync(segment.Number, segment.Data, ct).ConfigureAwait(false);
                lock (_lock)
                    _sealed.Remove(segment);
                segment.Dispose();
            }
        }

        private async Task ConsolidateAsync(ulong number, CancellationToken ct)
        {
            if (!await _repository.HasWalPiecesAsync(_timeline, number, ct).ConfigureAwait(false))
                return;
            var stored = await _repository.ReadWalSegmentAsync(_timeline, number, ct).ConfigureAwait(false);
            if (stored is { Covered: var covered } && covered == WalSegment.DefaultSizeBytes)
            {
                _logger.LogInformation("cluster {Cluster}: storing WAL segment {Segment} whole from its pieces (left by an earlier session)",
                    _chain.Cluster.Id, WalSegment.Name(_timeline, number));
                await StoreWholeAsync(number, stored.Value.Data, ct).ConfigureAwait(false);
            }
        }

        private async Task StoreWholeAsync(ulong number, byte[] data, CancellationToken ct)
        {
            var delta = await _repository.StoreWalSegmentAsync(_timeline, number, data, _engine.CompressionLevel, ct).ConfigureAwait(false);
            // The durable end is the flusher's; this only moves the stored size (the segment's end is durable already).
            await _chain.OnWalDurableAsync(WalSegment.Start(number + 1), _timeline, delta, ct).ConfigureAwait(false);
        }

        private async Task MarkDurableAsync(Lsn end, long storedDelta, CancellationToken ct)
        {
            if (end > DurableEnd)
                DurableEnd = end;
            _lag.Durable(DurableEnd);
            // Only now may the server forget this WAL.
            _conn.SetReplicationStatus(new NpgsqlLogSequenceNumber(DurableEnd.Value));
            await _chain.OnWalDurableAsync(DurableEnd, _timeline, storedDelta, ct).ConfigureAwait(false);
        }

        public void Dispose()
        {
            lock (_lock)
            {
                _segment.Dispose();
                foreach (var segment in _sealed)
                    segment.Dispose();
                _sealed.Clear();
            }

            _doneOrCancelled.Dispose();
        }
    }

    private sealed class Segment(ulong number) : IDisposable
    {
        public ulong Number { get; } = number;

        public byte[] Data { get; } = ArrayPool<byte>.Shared.Rent((int)WalSegment.DefaultSizeBytes);

        public int Written { get; set; }

        public int Flushed { get; set; }

        /// <summary>Completed once the segment's last bytes are durable as a piece (then it may be stored whole).</summary>
        public TaskCompletionSource TailDurable { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Dispose() => ArrayPool<byte>.Shared.Return(Data);
    }
}

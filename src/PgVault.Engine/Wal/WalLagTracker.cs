using PgVault.Postgres;

namespace PgVault.Engine.Wal;

/// <summary>
/// How far the repository is behind the server, as the streamer sees it: the server's WAL end (from
/// <c>IDENTIFY_SYSTEM</c> and every XLogData message's <c>WalEnd</c>) and, for WAL received but not yet durable, when
/// it arrived. Received positions are kept in buckets of <see cref="BucketWidth"/> (so memory stays small at any
/// rate), which can overstate the lag in time by at most that much. Thread-safe.
/// </summary>
public sealed class WalLagTracker
{
    /// <summary>Receipts closer together than this share one entry.</summary>
    public static readonly TimeSpan BucketWidth = TimeSpan.FromMilliseconds(100);

    private readonly Lock _lock = new();
    private readonly Queue<Pending> _pending = new();
    private Pending? _newest;
    private Lsn _serverEnd;
    private Lsn _durable;

    /// <summary>The newest WAL end the server reported (zero before the first connection).</summary>
    public Lsn ServerEnd
    {
        get
        {
            lock (_lock)
                return _serverEnd;
        }
    }

    /// <summary>When the oldest WAL received but not yet durable in the repository arrived; null when there is none.</summary>
    public DateTimeOffset? OldestPendingSince
    {
        get
        {
            lock (_lock)
                return _pending.Count > 0 ? _pending.Peek().Since : null;
        }
    }

    /// <summary>
    /// A replication connection starts: the server's WAL end is <paramref name="serverEnd"/> (IDENTIFY_SYSTEM) and the
    /// repository holds WAL up to <paramref name="durable"/>. Forgets the previous connection's figures (after a new
    /// chain, positions may even go back).
    /// </summary>
    public void Connected(Lsn serverEnd, Lsn durable)
    {
        lock (_lock)
        {
            _serverEnd = serverEnd;
            _durable = durable;
            _pending.Clear();
            _newest = null;
        }
    }

    /// <summary>The server reported its WAL end.</summary>
    public void ObserveServerEnd(Lsn end)
    {
        lock (_lock)
        {
            if (end > _serverEnd)
                _serverEnd = end;
        }
    }

    /// <summary>WAL up to <paramref name="end"/> was received at <paramref name="at"/> (not yet durable).</summary>
    public void Received(Lsn end, DateTimeOffset at)
    {
        lock (_lock)
        {
            if (end > _serverEnd)
                _serverEnd = end;
            if (end <= _durable)
                return; // made durable before this receipt was noted: nothing waits
            if (_newest is { } newest && _pending.Count > 0 && at - newest.Since < BucketWidth)
            {
                newest.End = end > newest.End ? end : newest.End;
                return;
            }

            _newest = new Pending(end, at);
            _pending.Enqueue(_newest);
        }
    }

    /// <summary>WAL up to <paramref name="end"/> is durable in the repository.</summary>
    public void Durable(Lsn end)
    {
        lock (_lock)
        {
            if (end > _durable)
                _durable = end;
            while (_pending.Count > 0 && _pending.Peek().End <= end)
                _pending.Dequeue();
        }
    }

    /// <summary>The connection ended: what was received but not stored is received again on the next one.</summary>
    public void Disconnected()
    {
        lock (_lock)
        {
            _pending.Clear();
            _newest = null;
        }
    }

    private sealed class Pending(Lsn end, DateTimeOffset since)
    {
        public Lsn End { get; set; } = end;

        public DateTimeOffset Since { get; } = since;
    }
}

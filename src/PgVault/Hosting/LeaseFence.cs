using System.Diagnostics;
using PgVault.Errors;
using PgVault.Fleet;

namespace PgVault.Hosting;

/// <summary>
/// The fence of one cluster's lease (one epoch) held by this instance: held locally until a lease TTL (less a margin for
/// the clocks' rates) after the start of the last renewal, on the monotonic clock, so a paused process that wakes up
/// past its TTL knows it at once, before it asks the catalog. <see cref="Lapsed"/> fires at that moment (or when the
/// lease is lost), which stops the worker running under it.
/// </summary>
public sealed class LeaseFence : IClusterFence, IDisposable
{
    private readonly ILeaseStore _store;
    private readonly string _instance;
    private readonly TimeSpan _valid;
    private readonly CancellationTokenSource _lapsed = new();
    private long _validUntil;
    private volatile bool _lost;

    /// <param name="store">Where the lease is checked.</param>
    /// <param name="clusterId">The cluster.</param>
    /// <param name="instance">This instance's name.</param>
    /// <param name="epoch">The epoch the lease was taken with.</param>
    /// <param name="ttl">The lease TTL.</param>
    /// <param name="startedTimestamp">The <see cref="Stopwatch"/> timestamp taken before the acquisition was sent.</param>
    public LeaseFence(ILeaseStore store, string clusterId, string instance, long epoch, TimeSpan ttl, long startedTimestamp)
    {
        _store = store;
        ClusterId = clusterId;
        _instance = instance;
        Epoch = epoch;
        _valid = ttl - TimeSpan.FromTicks(Math.Max(ttl.Ticks / 10, TimeSpan.FromMilliseconds(500).Ticks));
        Renewed(startedTimestamp);
    }

    public string ClusterId { get; }

    /// <summary>The lease's epoch when this instance took it: the fencing token.</summary>
    public long Epoch { get; }

    /// <summary>Cancelled when the lease lapses locally or is lost.</summary>
    public CancellationToken Lapsed => _lapsed.Token;

    /// <summary>A renewal that began at <paramref name="startedTimestamp"/> went through.</summary>
    public void Renewed(long startedTimestamp)
    {
        var until = startedTimestamp + (long)(_valid.TotalSeconds * Stopwatch.Frequency);
        Volatile.Write(ref _validUntil, until);
        var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), until);
        try
        {
            _lapsed.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        }
        catch (ObjectDisposedException)
        {
            // the worker is gone
        }
    }

    /// <summary>The lease is gone (renewal refused, taken by another instance, released): nothing more is committed.</summary>
    public void Lose()
    {
        _lost = true;
        try
        {
            _lapsed.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // the worker is gone
        }
    }

    public bool IsHeld => !_lost && Stopwatch.GetTimestamp() < Volatile.Read(ref _validUntil);

    public void ThrowIfLost()
    {
        if (!IsHeld)
            throw LostError();
    }

    public async Task EnsureHeldAsync(CancellationToken ct)
    {
        ThrowIfLost();
        var lease = await _store.GetLeaseAsync(ClusterId, ct).ConfigureAwait(false);
        if (lease is null || !lease.Held || !string.Equals(lease.Owner, _instance, StringComparison.Ordinal) || lease.Epoch != Epoch)
        {
            Lose();
            throw LostError(lease);
        }

        ThrowIfLost(); // the answer may have taken long
    }

    private PgVaultException LostError(ClusterLease? now = null) => new(ErrorCode.LeaseLost,
        $"instance '{_instance}' no longer holds the lease of cluster '{ClusterId}' (epoch {Epoch})" +
        (now is { Owner: { } owner } && now.Held ? $": instance '{owner}' holds it (epoch {now.Epoch})" : ": it expired"),
        "nothing more is committed for this cluster here; the instance holding the lease backs it up (GET /fleet shows which)");

    public void Dispose() => _lapsed.Dispose();
}

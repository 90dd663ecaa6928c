using Microsoft.Extensions.Logging;

namespace PgVault.Engine.Chains;

/// <summary>
/// Keeps the active chain's catalog row current off the WAL path: WAL flushes only move the chain's durable end in
/// memory (<see cref="ClusterChain.OnWalDurableAsync"/>); this saves the row every <see cref="Interval"/> (at most
/// <see cref="MaxInterval"/>), at once when the backup's state changes, and once more when it stops, so the last state
/// reaches the catalog. The catalog is an index: a row a second behind the repository loses nothing.
/// </summary>
public sealed class CatalogSaver
{
    /// <summary>The longest the catalog row lags the chain in memory.</summary>
    public static readonly TimeSpan MaxInterval = TimeSpan.FromSeconds(1);

    /// <summary>How long the save at stop may take.</summary>
    public static readonly TimeSpan FinalSaveTimeout = TimeSpan.FromSeconds(10);

    private readonly ClusterChain _chain;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <param name="chain">The chain whose row is saved.</param>
    /// <param name="time">The clock of the ticker.</param>
    /// <param name="logger">Where failed saves are reported (the next tick tries again).</param>
    /// <param name="interval">The ticker's period; <see cref="MaxInterval"/> when not given.</param>
    public CatalogSaver(ClusterChain chain, TimeProvider time, ILogger logger, TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(chain);
        _chain = chain;
        _time = time;
        _logger = logger;
        Interval = interval ?? MaxInterval;
    }

    /// <summary>The ticker's period.</summary>
    public TimeSpan Interval { get; }

    /// <summary>Saves on every tick and state change until cancelled, then saves the last state.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var requested = _chain.SaveRequested; // taken before the wait: a request while saving is not lost
                using (var tick = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    var delay = Task.Delay(Interval, _time, tick.Token);
                    await Task.WhenAny(delay, requested).ConfigureAwait(false);
                    await tick.CancelAsync().ConfigureAwait(false);
                }

                ct.ThrowIfCancellationRequested();
                await SaveAsync(ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            using var last = new CancellationTokenSource(FinalSaveTimeout);
            await SaveAsync(last.Token).ConfigureAwait(false);
        }
    }

    private async Task SaveAsync(CancellationToken ct)
    {
        try
        {
            await _chain.RefreshAsync(ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            _logger.LogWarning("cluster {Cluster}: could not save the backup's catalog row: {Error}", _chain.Cluster.Id, ex.Message);
        }
        catch (OperationCanceledException)
        {
            _logger.LogWarning("cluster {Cluster}: saving the backup's catalog row was cancelled", _chain.Cluster.Id);
        }
    }
}

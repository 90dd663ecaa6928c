using System.Diagnostics;
using PgVault.Api.Contracts;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.Repository;
using PgVault.Errors;
using PgVault.Security;
using PgVault.Storage;

namespace PgVault.Hosting;

/// <summary>
/// What <c>GET /readyz</c> answers: the catalog answers a query, and every configured location takes a write and a
/// delete (a tiny object at <see cref="RepositoryLayout.ReadinessProbe"/>) through <see cref="IObjectStore"/> alone, so
/// any store kind is probed the same way. Checks run in parallel, each bounded by <c>PgVault:Health:Timeout</c> even
/// when the underlying call ignores cancellation (a hung mount). Concurrent requests share one run, and a result is
/// reused for <see cref="ReuseFor"/>, so probing the endpoint in a loop cannot flood a store with writes.
/// Failure reasons name what failed and never carry a password (they pass through <see cref="SecretRedactor"/>).
/// A cluster whose PostgreSQL major PgVault does not support (refused when its WAL streaming connects) fails a check
/// <c>cluster:ID</c> naming the major and the supported ones.
/// </summary>
public sealed class Readiness(PgVaultOptions options, ICatalog catalog, LocationStores stores, BackupEngine engine, TimeProvider time,
    ILogger<Readiness> logger)
{
    /// <summary>How long one result answers further requests.</summary>
    public static readonly TimeSpan ReuseFor = TimeSpan.FromSeconds(1);

    private readonly Lock _lock = new();
    private Task<ReadinessResponse>? _running;
    private DateTimeOffset _runStarted;
    private bool _lastReady = true;

    /// <summary>The current readiness (a run started less than <see cref="ReuseFor"/> ago, or a new one).</summary>
    public Task<ReadinessResponse> CheckAsync()
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (_running is null || (_running.IsCompleted && now - _runStarted >= ReuseFor))
            {
                _runStarted = now;
                _running = RunAsync();
            }

            return _running;
        }
    }

    private async Task<ReadinessResponse> RunAsync()
    {
        var checks = new List<Task<ReadinessCheck>> { CheckOneAsync("catalog", PingCatalogAsync) };
        foreach (var name in options.Locations.Keys.Order(StringComparer.Ordinal))
            checks.Add(CheckOneAsync("location:" + name, ct => ProbeLocationAsync(name, ct)));
        foreach (var worker in engine.Workers.OrderBy(w => w.Cluster.Id, StringComparer.Ordinal))
        {
            if (worker.Streamer.UnsupportedMajor is { } refused)
                checks.Add(Task.FromResult(new ReadinessCheck("cluster:" + worker.Cluster.Id, "failed", 0, refused.Message)));
        }

        if (engine.Fleet is { } fleet)
            checks.Add(Task.FromResult(FleetCheck(fleet)));

        var results = await Task.WhenAll(checks).ConfigureAwait(false);
        var ready = results.All(r => r.Reason is null);
        lock (_lock)
        {
            if (ready != _lastReady)
            {
                _lastReady = ready;
                if (ready)
                    logger.LogInformation("ready again: every readiness check passes");
                else
                {
                    logger.LogWarning("not ready: {Failures}",
                        string.Join("; ", results.Where(r => r.Reason is not null).Select(r => $"{r.Name}: {r.Reason}")));
                }
            }
        }

        return new ReadinessResponse(ready ? "ready" : "unavailable", results);
    }

    /// <summary>In a fleet: this instance's heartbeat reaches the catalog (else its leases run out and others take its clusters).</summary>
    private static ReadinessCheck FleetCheck(FleetCoordinator fleet)
    {
        var since = fleet.SinceLastHeartbeat;
        var reason = since switch
        {
            null => "this instance has not joined the fleet yet (no heartbeat has reached the catalog)",
            { } s when s > fleet.LeaseTtl =>
                $"the last heartbeat reached the catalog {s.TotalSeconds:0.#} s ago (lease TTL {fleet.LeaseTtl.TotalSeconds:0.#} s): its clusters go to other instances",
            _ => null,
        };
        return new ReadinessCheck("fleet", reason is null ? "ok" : "failed", 0, reason);
    }

    private async Task<ReadinessCheck> CheckOneAsync(string name, Func<CancellationToken, Task> check)
    {
        var timeout = options.Health.Timeout;
        using var cts = new CancellationTokenSource(timeout);
        var started = Stopwatch.GetTimestamp();
        string? reason;
        try
        {
            // WaitAsync bounds the wait even when the check ignores its token.
            await Task.Run(() => check(cts.Token), cts.Token).WaitAsync(timeout).ConfigureAwait(false);
            reason = null;
        }
        catch (Exception ex) when (ex is TimeoutException || (ex is OperationCanceledException && cts.IsCancellationRequested))
        {
            reason = $"no answer within {timeout.TotalSeconds:0.###} s";
        }
        catch (Exception ex)
        {
            reason = SecretRedactor.Redact(ex.Message);
        }

        var elapsedMs = Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1);
        return new ReadinessCheck(name, reason is null ? "ok" : "failed", elapsedMs, reason);
    }

    private async Task PingCatalogAsync(CancellationToken ct)
    {
        try
        {
            await catalog.PingAsync(ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not (PgVaultException or OperationCanceledException))
        {
            // A broken pooled connection says only "Exception while reading from stream": name what failed.
            throw new PgVaultException(ErrorCode.CatalogUnavailable, $"unable to query the {catalog.Provider} catalog: {ex.Message}", null, ex);
        }
    }

    private async Task ProbeLocationAsync(string location, CancellationToken ct)
    {
        try
        {
            await RepositoryProbe.WriteStatDeleteAsync(stores.Get(location), ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not (PgVaultException or OperationCanceledException))
        {
            throw new PgVaultException(ErrorCode.RepositoryUnavailable, $"unable to write to location '{location}': {ex.Message}", null, ex);
        }
    }
}

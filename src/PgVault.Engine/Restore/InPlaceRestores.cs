using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.Postgres;
using PgVault.Errors;
using PgVault.Text;

namespace PgVault.Engine.Restore;

/// <summary>A checked in-place restore, ready to run: everything that can be refused was refused before it starts.</summary>
public sealed record InPlaceRestore(ClusterOptions Cluster, ClusterWorker? Worker, RestoreSource Source, RestorePlan Plan, string? TargetTime);

/// <summary>
/// The IONOS in-place restore (<c>POST /clusters/{id}/restore</c>): stops the cluster, moves its data directory aside
/// (kept, never deleted), restores the backup into its place, starts it, waits for the promotion, and lets the backup
/// worker go on. The cluster is then on a new timeline, so the worker starts a new active chain and the old one becomes
/// inactive. A restore that fails puts the old data directory back and starts it again. One restore per cluster at a time.
/// </summary>
/// <param name="options">The configuration: the clusters, their data directories and start options.</param>
/// <param name="workerOf">The backup worker of a cluster, by id, or null when none runs.</param>
/// <param name="catalog">Where the cluster's BUSY state is shown.</param>
/// <param name="restore">Finds, plans and writes the restore.</param>
/// <param name="time">The clock naming the directory kept aside.</param>
/// <param name="logger">Where the restore's progress goes.</param>
public sealed class InPlaceRestores(PgVaultOptions options, Func<string, ClusterWorker?> workerOf, ICatalog catalog, RestoreService restore,
    TimeProvider time, ILogger<InPlaceRestores> logger)
{
    private static readonly TimeSpan PauseTimeout = TimeSpan.FromMinutes(2);
    private readonly ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);

    /// <summary>True while a restore of the cluster runs.</summary>
    public bool IsRunning(string clusterId) => _running.ContainsKey(clusterId);

    /// <summary>
    /// Checks a restore request: the cluster has a data directory, no restore runs, the backup exists with the cluster's
    /// PostgreSQL major, and the target lies in its recovery window. Throws the error the API answers with.
    /// </summary>
    public async Task<InPlaceRestore> PrepareAsync(string clusterId, string backupId, DateTimeOffset? targetTime, CancellationToken ct)
    {
        var cluster = options.Clusters.FirstOrDefault(c => string.Equals(c.Id, clusterId, StringComparison.OrdinalIgnoreCase))
                      ?? throw new PgVaultException(ErrorCode.ValidationFailed, $"cluster '{clusterId}' is not configured in this pgvault instance",
                          "add it under PgVault:Clusters with its DataDirectory");
        if (string.IsNullOrEmpty(cluster.DataDirectory))
        {
            throw new PgVaultException(ErrorCode.ValidationFailed,
                $"cluster '{clusterId}' has no local data directory configured, so it cannot be restored in place",
                "set PgVault:Clusters[n]:DataDirectory to the cluster's data directory on this machine (and StartOptions if pg_ctl needs them), " +
                "or restore elsewhere with 'pgvault restore --backup-id ID --to DIR'");
        }

        if (IsRunning(cluster.Id))
            throw new PgVaultException(ErrorCode.Conflict, $"a restore of cluster '{cluster.Id}' is already running");
        var versionFile = Path.Combine(cluster.DataDirectory, "PG_VERSION");
        if (!File.Exists(versionFile))
        {
            throw new PgVaultException(ErrorCode.ValidationFailed, $"'{cluster.DataDirectory}' (cluster '{cluster.Id}') is not a PostgreSQL data directory: it has no PG_VERSION",
                "check PgVault:Clusters[n]:DataDirectory");
        }

        var major = (await File.ReadAllTextAsync(versionFile, ct).ConfigureAwait(false)).Trim();
        PostgresMajor.Require(major, $"cluster '{cluster.Id}' (its data directory)");
        var source = await restore.FindAsync(backupId, ct).ConfigureAwait(false);
        if (!string.Equals(source.PostgresMajor, major, StringComparison.Ordinal))
        {
            throw new PgVaultException(ErrorCode.ValidationFailed,
                $"backup '{backupId}' is of PostgreSQL {source.PostgresMajor}, cluster '{cluster.Id}' runs PostgreSQL {major}",
                "restore a backup taken from a PostgreSQL " + major + " cluster");
        }

        RestoreTarget target = targetTime is { } t ? new RestoreTarget.Time(t) : new RestoreTarget.Latest();
        var plan = await RestoreService.PlanAsync(source, target, inclusive: true, ct).ConfigureAwait(false);
        return new InPlaceRestore(cluster, workerOf(cluster.Id), source, plan,
            targetTime?.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
    }

    /// <summary>Starts the restore in the background (it outlives the request; <paramref name="stopping"/> is the server's).</summary>
    public void Start(InPlaceRestore request, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(request);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_running.TryAdd(request.Cluster.Id, gate.Task))
            throw new PgVaultException(ErrorCode.Conflict, $"a restore of cluster '{request.Cluster.Id}' is already running");
        _ = Task.Run(async () =>
        {
            try
            {
                await RunAsync(request, stopping).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                logger.LogError("cluster {Cluster}: in-place restore of backup {Backup} failed: {Error}", request.Cluster.Id, request.Source.BackupId,
                    ex is PgVaultException p ? p.Describe() : ex.ToString());
            }
            finally
            {
                _running.TryRemove(request.Cluster.Id, out _);
                gate.TrySetResult();
            }
        }, CancellationToken.None);
    }

    private async Task RunAsync(InPlaceRestore request, CancellationToken ct)
    {
        var cluster = request.Cluster;
        var dir = Path.GetFullPath(cluster.DataDirectory!);
        var clock = Stopwatch.StartNew();
        // Paused first: a worker that stops streaming marks the cluster as not streaming, which must not hide BUSY.
        var pause = request.Worker is { } worker ? await worker.PauseAsync(PauseTimeout, ct).ConfigureAwait(false) : null;
        try
        {
            await SetClusterStateAsync(cluster, ClusterState.Busy, ct).ConfigureAwait(false);
            var major = PostgresMajor.Require(request.Source.PostgresMajor, $"backup '{request.Source.BackupId}'");
            var bin = PostgresTools.FindServerBinDirectory(options.Engine, major)
                      ?? throw new PgVaultException(ErrorCode.PostgresUnavailable, $"PostgreSQL {major}'s programs (pg_ctl) were not found",
                          $"set PgVault:Engine:PostgresBinDirectories:{major} to the directory holding PostgreSQL {major}'s pg_ctl");
            var pgCtl = Path.Combine(bin, "pg_ctl");
            var startOptions = cluster.StartOptions ?? StartOptionsOf(dir);
            var owner = LocalPostgres.IsRoot
                ? (await LocalPostgres.RunAsync("stat", ["-c", "%u:%g", dir], asPostgres: false, ct).ConfigureAwait(false)).Trim()
                : null;
            logger.LogInformation("cluster {Cluster}: in-place restore of backup {Backup} (base backup {Label}, target {Target}): stopping the cluster",
                cluster.Id, request.Source.BackupId, request.Plan.BaseBackup.Label, request.TargetTime ?? "latest");
            // The commit point: in a fleet, only the instance holding the cluster's lease stops it and swaps its data directory.
            if (request.Worker is { } held)
                await held.Fence.EnsureHeldAsync(ct).ConfigureAwait(false);
            await StopAsync(pgCtl, dir, ct).ConfigureAwait(false);

            var stamp = time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
            var aside = $"{dir}.pgvault-before-restore-{stamp}";
            Directory.Move(dir, aside);
            logger.LogInformation("cluster {Cluster}: the old data directory is kept at {Aside}", cluster.Id, aside);
            try
            {
                var bytes = await restore.RestoreToAsync(request.Source, request.Plan, dir, force: false, owner, progress: null, ct).ConfigureAwait(false);
                var log = Path.Combine(dir, "pgvault-restore.log");
                try
                {
                    await LocalPostgres.RunAsync(pgCtl, ["start", "-w", "-t", "3600", "-D", dir, "-l", log, "-o", startOptions], asPostgres: true, ct)
                        .ConfigureAwait(false);
                }
                catch (PgVaultException ex)
                {
                    throw new PgVaultException(ErrorCode.PostgresUnavailable, $"the restored cluster did not start: {ex.Message} {RecoveryMonitor.LogTail(log)}");
                }

                var recovery = await RecoveryMonitor.WaitForPromotionAsync(cluster.ConnectionString, request.Source.Chain.DurableEnd,
                    options.Engine.RecoveryTimeout, () => RecoveryMonitor.LogTail(log), progress: null, ct).ConfigureAwait(false);
                Telemetry.PgVaultMetrics.RecordRestore(cluster.Id, clock.Elapsed, bytes);
                logger.LogInformation(
                    "cluster {Cluster}: restored in place from backup {Backup} in {Seconds:0.0} s: {MB:0.0} MB written, promoted at {Lsn} on timeline {Timeline}, " +
                    "last transaction replayed {LastTransaction}; the old data directory is at {Aside}",
                    cluster.Id, request.Source.BackupId, clock.Elapsed.TotalSeconds, bytes / 1e6, recovery.Lsn, recovery.Timeline,
                    recovery.LastTransaction?.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) ?? "none", aside);
            }
            catch (Exception ex)
            {
                await RollBackAsync(cluster, pgCtl, dir, aside, stamp, startOptions, ex).ConfigureAwait(false);
                throw;
            }
        }
        finally
        {
            // Back to "not streaming"; the worker marks the cluster AVAILABLE when it connects again.
            await SetClusterStateAsync(cluster, ClusterState.Unknown, CancellationToken.None).ConfigureAwait(false);
            if (pause is not null)
                await pause.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Puts the old data directory back and starts it; the failed restore is kept beside it for a look.</summary>
    private async Task RollBackAsync(ClusterOptions cluster, string pgCtl, string dir, string aside, string stamp, string startOptions, Exception cause)
    {
        logger.LogWarning("cluster {Cluster}: the restore failed ({Error}); putting the old data directory back", cluster.Id, cause.Message);
        try
        {
            if (Directory.Exists(dir))
            {
                await StopAsync(pgCtl, dir, CancellationToken.None).ConfigureAwait(false);
                Directory.Move(dir, $"{dir}.pgvault-failed-restore-{stamp}");
            }

            Directory.Move(aside, dir);
            await LocalPostgres.RunAsync(pgCtl, ["start", "-w", "-t", "3600", "-D", dir, "-l", Path.Combine(dir, "pgvault-restore.log"), "-o", startOptions],
                asPostgres: true, CancellationToken.None).ConfigureAwait(false);
            logger.LogWarning("cluster {Cluster}: the old data directory is back in place and the cluster runs again", cluster.Id);
        }
        catch (Exception ex)
        {
            logger.LogError("cluster {Cluster}: putting the old data directory back failed: {Error}; it is at {Aside}", cluster.Id, ex.Message, aside);
        }
    }

    private static async Task StopAsync(string pgCtl, string dir, CancellationToken ct)
    {
        if (File.Exists(Path.Combine(dir, "postmaster.pid")))
            await LocalPostgres.RunAsync(pgCtl, ["stop", "-m", "fast", "-w", "-t", "300", "-D", dir], asPostgres: true, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The server options the cluster was last started with, from its <c>postmaster.opts</c> (the postgres program's path
    /// and <c>-D</c> left out), quoted for <c>pg_ctl -o</c>.
    /// </summary>
    public static string StartOptionsOf(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, "postmaster.opts");
        if (!File.Exists(path))
            return "";
        var tokens = Tokenize(File.ReadAllText(path).Trim()).Skip(1).ToList();
        var kept = new List<string>();
        for (var i = 0; i < tokens.Count; i++)
        {
            if (tokens[i] == "-D")
            {
                i++;
                continue;
            }

            kept.Add(tokens[i]);
        }

        // pg_ctl runs the server through /bin/sh: each option one single-quoted word.
        return string.Join(' ', kept.Select(t => SafeText.ShellWord(t, "an option in postmaster.opts")));
    }

    private static IEnumerable<string> Tokenize(string line)
    {
        var current = new StringBuilder();
        var quoted = false;
        var any = false;
        foreach (var c in line)
        {
            if (c == '"')
            {
                quoted = !quoted;
                any = true;
            }
            else if (char.IsWhiteSpace(c) && !quoted)
            {
                if (any || current.Length > 0)
                    yield return current.ToString();
                current.Clear();
                any = false;
            }
            else
            {
                current.Append(c);
            }
        }

        if (any || current.Length > 0)
            yield return current.ToString();
    }

    private async Task SetClusterStateAsync(ClusterOptions cluster, ClusterState state, CancellationToken ct)
    {
        var existing = await catalog.GetClusterAsync(cluster.Id, ct).ConfigureAwait(false);
        await catalog.UpsertClusterAsync(new ClusterRecord
        {
            Id = cluster.Id,
            DisplayName = cluster.DisplayName ?? cluster.Id,
            CreatedDate = existing?.CreatedDate ?? time.GetUtcNow(),
            State = state,
            PostgresVersion = existing?.PostgresVersion,
            BackupLocation = cluster.BackupLocation,
        }, ct).ConfigureAwait(false);
    }
}

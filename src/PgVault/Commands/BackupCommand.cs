using System.CommandLine;
using Microsoft.Extensions.Logging;
using PgVault.Catalog;
using PgVault.Engine;
using PgVault.Engine.BaseBackup;
using PgVault.Engine.Postgres;
using PgVault.Errors;
using PgVault.Hosting;
using PgVault.Postgres;

namespace PgVault.Commands;

/// <summary>
/// <c>pgvault backup --cluster ID</c>: takes a base backup now, in this process, with WAL streaming running alongside
/// until the WAL the backup needs is in the repository. For a cluster that a running <c>pgvault serve</c> already
/// backs up, use <c>POST /clusters/{id}/backups</c> instead (the replication slot can have one reader).
/// </summary>
public static class BackupCommand
{
    private static readonly TimeSpan WalWait = TimeSpan.FromMinutes(5);

    public static Command Create()
    {
        var config = Cli.ConfigOption();
        var cluster = new Option<string>("--cluster")
        {
            Description = "Id of a configured cluster, e.g. --cluster 6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f", HelpName = "ID", Required = true,
        };
        var jobs = Cli.JobsOption("zstd threads compressing the base backup, 1 to 64, e.g. --jobs 4 " +
                                  "(default: Engine:CompressionWorkers, which defaults to 2)");
        var type = new Option<string?>("--type")
        {
            Description = "full (every file), diff (blocks changed since the last full) or incr (since the last base backup), e.g. --type incr. " +
                          "Without it: a full base backup as configured (the server may compress it; a later diff or incr then takes a full one). " +
                          "A diff or incr with no usable reference is taken full, with a warning",
            HelpName = "TYPE",
        };
        type.AcceptOnlyFromAmong("full", "diff", "incr");
        var command = new Command("backup", "Take a base backup of a cluster now") { config, cluster, jobs, type };
        command.SetAction(async (result, ct) =>
        {
            var options = Cli.LoadOptions(result, config);
            if (result.GetValue(jobs) is { } n)
                options.Engine.CompressionWorkers = n;
            var id = PgVault.Configuration.PgVaultOptionsValidator.CanonicalClusterId(result.GetValue(cluster)!);
            var clusterOptions = options.Clusters.FirstOrDefault(c => string.Equals(c.Id, id, StringComparison.Ordinal))
                                 ?? throw new PgVaultException(ErrorCode.UnknownCluster, $"cluster '{id}' is not configured",
                                     "list the configured clusters with GET /clusters, or add it under PgVault:Clusters");
            await EnsureSlotFreeAsync(clusterOptions, ct).ConfigureAwait(false);
            StateDirectory.Prepare(options, logger: null, tighten: false);
            var catalog = CatalogFactory.Create(options);
            await catalog.MigrateAsync(ct).ConfigureAwait(false);
            using var loggers = LoggerFactory.Create(l => l.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
            var worker = new ClusterWorker(clusterOptions, new LocationStores(options).Get(clusterOptions.BackupLocation), catalog,
                options.Engine, TimeProvider.System, loggers.CreateLogger("pgvault"));

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var streaming = worker.Streamer.RunAsync(stop.Token);
            try
            {
                using var connect = CancellationTokenSource.CreateLinkedTokenSource(ct);
                connect.CancelAfter(TimeSpan.FromSeconds(60));
                while (true)
                {
                    var changed = worker.Chain.Changed;
                    if (worker.Chain.Current is not null)
                        break;
                    if (connect.IsCancellationRequested)
                    {
                        throw new PgVaultException(ErrorCode.PostgresUnavailable,
                            $"could not start WAL streaming from cluster '{id}' within 60 s",
                            "check its ConnectionString; if 'pgvault serve' backs it up already, use POST /clusters/{id}/backups");
                    }

                    await WaitAsync(changed, TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
                }

                // The slot was free: a base backup still RUNNING in the catalog is one whose process died (killed, a crash).
                await worker.FailInterruptedAsync(ct).ConfigureAwait(false);
                var reporter = new ProgressPrinter(Console.Out, !Console.IsOutputRedirected);
                var record = await new BaseBackupRunner(worker.Chain, catalog, options.Engine, TimeProvider.System, loggers.CreateLogger("pgvault"))
                    .RunAsync(reporter, ct, ParseType(result.GetValue(type))).ConfigureAwait(false);
                reporter.Finish();

                // The backup is restorable once the WAL up to its end is durable in the repository.
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                wait.CancelAfter(WalWait);
                while (true)
                {
                    var changed = worker.Chain.Changed;
                    if ((worker.Chain.Current?.EndLsn ?? 0) >= record.EndLsn)
                        break;
                    if (wait.IsCancellationRequested)
                        throw new PgVaultException(ErrorCode.WalStreamFailed, $"the WAL up to {new Lsn(record.EndLsn!.Value)} did not reach the repository within {WalWait}");
                    // Not at the next flush interval: the WAL the backup ends with is all that is left to wait for.
                    worker.Streamer.RequestFlush();
                    await WaitAsync(changed, TimeSpan.FromMilliseconds(50), ct).ConfigureAwait(false);
                }

                await worker.Chain.RefreshAsync(ct).ConfigureAwait(false);
                await Console.Out.WriteLineAsync(
                    $"base backup {record.Label} of {record.BackupId} complete: {record.DatabaseBytes / 1e6:0.0} MB copied, {record.SizeBytes / 1e6:0.0} MB stored, " +
                    $"consistent at {new Lsn(record.EndLsn!.Value)}").ConfigureAwait(false);
                return 0;
            }
            finally
            {
                await stop.CancelAsync().ConfigureAwait(false);
                await streaming.ConfigureAwait(false);
                if (catalog is IAsyncDisposable d)
                    await d.DisposeAsync().ConfigureAwait(false);
            }
        });
        return command;
    }

    /// <summary>The base backup type named by <c>--type</c>, or null when none was given.</summary>
    internal static PgVault.Engine.Repository.BaseBackupType? ParseType(string? text) => text switch
    {
        null => null,
        "full" => PgVault.Engine.Repository.BaseBackupType.Full,
        "diff" => PgVault.Engine.Repository.BaseBackupType.Diff,
        "incr" => PgVault.Engine.Repository.BaseBackupType.Incr,
        _ => throw new PgVaultException(ErrorCode.InvalidConfiguration, $"unknown base backup type '{text}'", "give full, diff or incr"),
    };

    /// <summary>Until <paramref name="changed"/> completes or <paramref name="timeout"/> passes.</summary>
    private static async Task WaitAsync(Task changed, TimeSpan timeout, CancellationToken ct)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
#pragma warning disable VSTHRD003 // a signal (a TaskCompletionSource's task, continuations asynchronous), not work to join
        await Task.WhenAny(changed, Task.Delay(timeout, timer.Token)).ConfigureAwait(false);
#pragma warning restore VSTHRD003
        await timer.CancelAsync().ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// A replication slot has one reader: when a running <c>pgvault serve</c> streams through it, this process could
    /// neither stream nor see the WAL its base backup needs arrive. Say so instead of waiting.
    /// </summary>
    private static async Task EnsureSlotFreeAsync(PgVault.Configuration.ClusterOptions cluster, CancellationToken ct)
    {
        try
        {
            if (await new PostgresServer(cluster.ConnectionString).IsReplicationSlotActiveAsync(cluster.SlotName, ct).ConfigureAwait(false))
            {
                throw new PgVaultException(ErrorCode.Conflict,
                    $"replication slot '{cluster.SlotName}' of cluster '{cluster.Id}' is in use (by a running 'pgvault serve'?)",
                    $"ask the server instead: POST /clusters/{cluster.Id}/backups");
            }
        }
        catch (Npgsql.NpgsqlException ex)
        {
            throw new PgVaultException(ErrorCode.PostgresUnavailable, $"unable to connect to cluster '{cluster.Id}': {ex.Message}",
                "check its ConnectionString", ex);
        }
    }

    /// <summary>A progress bar on a terminal, plain lines (every 5 s) otherwise.</summary>
    private sealed class ProgressPrinter(TextWriter output, bool terminal) : IProgress<BaseBackupProgress>
    {
        private DateTime _lastLine = DateTime.MinValue;
        private bool _drewBar;

        public void Report(BaseBackupProgress value)
        {
            var total = Math.Max(value.BytesTotalEstimate, value.BytesDone);
            var fraction = total > 0 ? (double)value.BytesDone / total : 0;
            var eta = value.Remaining is { } r ? $"{r.TotalSeconds:0} s left" : "";
            var text = $"{value.BytesDone / 1e6,8:0.0} / {total / 1e6:0.0} MB  {value.BytesPerSecond / 1e6,6:0.0} MB/s  {eta}";
            if (terminal)
            {
                const int width = 30;
                var filled = (int)Math.Round(fraction * width);
                output.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {fraction,4:P0} {text}   ");
                _drewBar = true;
            }
            else if (DateTime.UtcNow - _lastLine >= TimeSpan.FromSeconds(5))
            {
                _lastLine = DateTime.UtcNow;
                output.WriteLine($"base backup: {fraction:P0} {text}");
            }
        }

        public void Finish()
        {
            if (_drewBar)
                output.WriteLine();
        }
    }
}

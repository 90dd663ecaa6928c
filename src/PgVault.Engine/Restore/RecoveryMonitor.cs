using System.Diagnostics;
using Npgsql;
using PgVault.Engine.Postgres;
using PgVault.Errors;
using PgVault.Postgres;

namespace PgVault.Engine.Restore;

/// <summary>How far a recovering server has replayed, against where the backup's WAL ends.</summary>
public sealed record RecoveryProgress(Lsn Replayed, Lsn End, DateTimeOffset? LastTransaction);

/// <summary>Where a restored server ended up: its WAL position and timeline after promotion, and the last transaction replayed.</summary>
public sealed record RecoveryResult(Lsn Lsn, int Timeline, DateTimeOffset? LastTransaction, TimeSpan Duration);

/// <summary>Watches a server started on a restored data directory until it has replayed its WAL and promoted.</summary>
public static class RecoveryMonitor
{
    /// <summary>How <c>pgvault wal-fetch</c> (not its agent) starts the lines it writes to the server's log.</summary>
    private const string WalFetchPrefix = "pgvault wal-fetch: ";

    /// <summary>Consecutive failed connection attempts after which the server is taken for dead (about 5 s).</summary>
    private const int MaxConnectionFailures = 25;

    /// <summary>
    /// Polls the server until it is out of recovery, reporting the replay position. Fails when the server stops answering
    /// (recovery aborted: <paramref name="describeFailure"/> says why, e.g. from its log) or after <paramref name="timeout"/>.
    /// </summary>
    public static async Task<RecoveryResult> WaitForPromotionAsync(string connectionString, Lsn end, TimeSpan timeout,
        Func<string> describeFailure, IProgress<RecoveryProgress>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(describeFailure);
        var server = new PostgresServer(new NpgsqlConnectionStringBuilder(connectionString) { Timeout = 5 }.ToString());
        var clock = Stopwatch.StartNew();
        var failures = 0;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (clock.Elapsed > timeout)
            {
                throw new PgVaultException(ErrorCode.Unavailable, $"recovery did not finish within {timeout.TotalMinutes:0} min: {describeFailure()}",
                    "raise PgVault:Engine:RecoveryTimeout, or look at the server's log");
            }

            try
            {
                var status = await server.RecoveryStatusAsync(ct).ConfigureAwait(false);
                failures = 0;
                if (!status.InRecovery)
                    return new RecoveryResult(status.Position!.Value, status.Timeline!.Value, status.LastTransaction, clock.Elapsed);

                progress?.Report(new RecoveryProgress(status.Replayed, end, status.LastTransaction));
            }
            catch (NpgsqlException ex) when (!ct.IsCancellationRequested)
            {
                if (++failures >= MaxConnectionFailures)
                    throw new PgVaultException(ErrorCode.PostgresUnavailable, $"the restored server stopped answering during recovery ({ex.Message}): {describeFailure()}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The last lines of a server log (the reason a recovery failed), or a note that there is none. When PostgreSQL
    /// aborted because its <c>restore_command</c> failed, <c>pgvault wal-fetch</c>'s own message (which names the file
    /// and the repository object) comes first, wherever it is in the log.
    /// </summary>
    public static string LogTail(string path, int lines = 8)
    {
        try
        {
            var all = File.ReadAllLines(path);
            var start = Math.Max(0, all.Length - lines);
            var tail = "server log: " + string.Join(" | ", all.Skip(start));
            var failed = Array.FindLastIndex(all, l => l.Contains("could not restore file", StringComparison.Ordinal));
            // Its message just before PostgreSQL's (a HINT and the agent's lines may come between): an older one is not the cause.
            var said = failed < 0 ? -1 : Array.FindLastIndex(all, failed, Math.Min(failed + 1, 20), l => l.StartsWith(WalFetchPrefix, StringComparison.Ordinal));
            return said >= 0 && said < start ? $"restore_command: {all[said]} | {tail}" : tail;
        }
        catch (IOException)
        {
            return $"no server log at {path}";
        }
        catch (UnauthorizedAccessException)
        {
            return $"server log {path} is not readable";
        }
    }
}

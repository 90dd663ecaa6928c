using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgVault.Engine.BaseBackup;
using PgVault.Engine.Chains;
using PgVault.Engine.Restore;
using PgVault.Engine.Storage;
using PgVault.Errors;
using PgVault.Hosting;
using PgVault.Postgres;
using PgVault.Storage;

namespace PgVault.Commands;

/// <summary>
/// <c>pgvault restore --backup-id ID --to DIR [target] [--verify]</c>: a data directory recovered to a point of the
/// backup's recovery window, with PgVault as its <c>restore_command</c>.
/// </summary>
public static class RestoreCommand
{
    public static Command Create()
    {
        var config = Cli.ConfigOption();
        var backupId = new Option<string>("--backup-id") { Description = "The backup (chain) to restore from", Required = true };
        var to = new Option<DirectoryInfo>("--to") { Description = "Target data directory (empty, or --force)", Required = true };
        var time = new Option<string?>("--target-time") { Description = "Recover to this time (ISO 8601)" };
        var lsn = new Option<string?>("--target-lsn") { Description = "Recover to this WAL position (e.g. 0/3000060)" };
        var xid = new Option<ulong?>("--target-xid") { Description = "Recover to this transaction id" };
        var name = new Option<string?>("--target-name") { Description = "Recover to this restore point (pg_create_restore_point)" };
        var immediate = new Option<string?>("--target") { Description = "'immediate': stop at the base backup's consistency point" };
        var exclusive = new Option<bool>("--exclusive") { Description = "Stop just before the target instead of just after it" };
        var force = new Option<bool>("--force") { Description = "Replace the contents of a non-empty target directory" };
        var verify = new Option<bool>("--verify") { Description = "Start PostgreSQL on the result, wait for recovery, run pg_amcheck, stop it" };
        var command = new Command("restore", "Restore a backup to a data directory, to a point in its recovery window")
        {
            config, backupId, to, time, lsn, xid, name, immediate, exclusive, force, verify,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (result, ct) =>
        {
            var options = Cli.LoadOptions(result, config);
            var id = result.GetValue(backupId)!;
            RestoreTarget target = new RestoreTarget.Latest();
            var given = 0;
            if (result.GetValue(time) is { } t)
            {
                given++;
                target = new RestoreTarget.Time(DateTimeOffset.Parse(t, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal));
            }

            if (result.GetValue(lsn) is { } l)
            {
                given++;
                target = new RestoreTarget.Position(Lsn.Parse(l));
            }

            if (result.GetValue(xid) is { } x)
            {
                given++;
                target = new RestoreTarget.Xid(x);
            }

            if (result.GetValue(name) is { } n)
            {
                given++;
                target = new RestoreTarget.Name(n);
            }

            if (result.GetValue(immediate) is { } i)
            {
                given++;
                if (!string.Equals(i, "immediate", StringComparison.Ordinal))
                    throw new PgVaultException(ErrorCode.InvalidConfiguration, "--target takes only 'immediate'");
                target = new RestoreTarget.Immediate();
            }

            if (given > 1)
                throw new PgVaultException(ErrorCode.InvalidConfiguration, "give at most one restore target");

            var (store, repositoryPath, chain) = await FindAsync(options, id, ct).ConfigureAwait(false);
            var last = chain.Wal.MaxBy(w => (w.Segment, w.End));
            var endTime = last is null ? DateTimeOffset.UtcNow : (await store.StatAsync(last.Key, ct).ConfigureAwait(false))?.LastModified ?? DateTimeOffset.UtcNow;
            var plan = RestorePlanner.Plan(chain, target, endTime, inclusive: !result.GetValue(exclusive));
            var dir = result.GetValue(to)!.FullName;
            var restoreCommand = WalFetchCommand.CommandLine(repositoryPath, id);
            await Console.Out.WriteLineAsync($"restoring base backup {plan.BaseBackup.Label} of {id} into {dir}").ConfigureAwait(false);
            using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
            var total = plan.BaseBackup.Metadata!.DatabaseBytes;
            var bytes = await new RestoreExecutor(store, loggers.CreateLogger("pgvault")).RestoreAsync(plan, dir, restoreCommand,
                result.GetValue(force), new Progress(total), ct).ConfigureAwait(false);
            if (LocalPostgres.IsRoot)
                await LocalPostgres.RunAsync("chown", ["-R", "postgres:postgres", dir], asPostgres: false, ct).ConfigureAwait(false);
            await Console.Out.WriteLineAsync($"\nrestored {bytes / 1e6:0.0} MB; recovery settings: " +
                string.Join(", ", plan.RecoverySettings.Select(kv => $"{kv.Key}={kv.Value}"))).ConfigureAwait(false);
            if (!result.GetValue(verify))
            {
                await Console.Out.WriteLineAsync("start PostgreSQL on it to replay the WAL and promote").ConfigureAwait(false);
                return 0;
            }

            return await VerifyAsync(options, dir, ct).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>The location, repository path and chain holding backup <paramref name="backupId"/>.</summary>
    internal static async Task<(IObjectStore Store, string RepositoryPath, ScannedChain Chain)> FindAsync(
        Configuration.PgVaultOptions options, string backupId, CancellationToken ct)
    {
        var (cluster, _) = WalFetcher.ParseBackupId(backupId);
        foreach (var (name, loc) in options.Locations)
        {
            var path = Path.IsPathRooted(loc.Path!) ? loc.Path! : Path.Combine(options.DataDirectoryFullPath, loc.Path!);
            var store = new LocalObjectStore(path);
            var chain = (await RepositoryScanner.ScanAsync(store, cluster, ct).ConfigureAwait(false))
                .FirstOrDefault(c => c.Metadata?.BackupId == backupId);
            if (chain is not null)
                return (store, path, chain);
        }

        throw new PgVaultException(ErrorCode.NotFound, $"backup '{backupId}' is not in any configured location",
            "list backups with GET /clusters/backups; check PgVault:Locations");
    }

    /// <summary>Starts PostgreSQL on the restored directory, waits for recovery, runs pg_amcheck, reports, stops it.</summary>
    private static async Task<int> VerifyAsync(Configuration.PgVaultOptions options, string dir, CancellationToken ct)
    {
        var bin = PostgresTools.FindBinDirectory(options.Engine.PostgresBinDirectory)
                  ?? throw new PgVaultException(ErrorCode.PostgresUnavailable, "PostgreSQL's programs were not found for --verify");
        var port = LocalPostgres.FreePort();
        var socketDir = Path.Combine(Path.GetTempPath(), $"pgvault-verify-{port}");
        Directory.CreateDirectory(socketDir);
        if (LocalPostgres.IsRoot)
            await LocalPostgres.RunAsync("chown", ["postgres:postgres", socketDir], asPostgres: false, ct).ConfigureAwait(false);
        var log = Path.Combine(socketDir, "postgres.log");
        await Console.Out.WriteLineAsync($"--verify: starting PostgreSQL on port {port} to replay the WAL ...").ConfigureAwait(false);
        await LocalPostgres.RunAsync(Path.Combine(bin, "pg_ctl"),
            ["start", "-w", "-t", "3600", "-D", dir, "-l", log,
             "-o", $"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={socketDir} -c archive_mode=off"],
            asPostgres: true, ct).ConfigureAwait(false);
        try
        {
            var cs = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false";
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (true)
            {
                await using var conn = new NpgsqlConnection(cs);
                await conn.OpenAsync(ct).ConfigureAwait(false);
                await using var cmd = new NpgsqlCommand("SELECT pg_is_in_recovery()", conn);
                if (!(bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!)
                    break;
                if (clock.Elapsed > TimeSpan.FromHours(1))
                    throw new PgVaultException(ErrorCode.ValidationFailed, "recovery did not finish within an hour");
                await Task.Delay(200, ct).ConfigureAwait(false);
            }

            await using (var conn = new NpgsqlConnection(cs))
            {
                await conn.OpenAsync(ct).ConfigureAwait(false);
                await using var cmd = new NpgsqlCommand(
                    "SELECT pg_current_wal_lsn()::text, (SELECT timeline_id FROM pg_control_checkpoint()), pg_last_xact_replay_timestamp()", conn);
                await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await r.ReadAsync(ct).ConfigureAwait(false);
                var replayed = await r.IsDBNullAsync(2, ct).ConfigureAwait(false) ? "no transaction replayed" : (await r.GetFieldValueAsync<DateTime>(2, ct).ConfigureAwait(false)).ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);
                await Console.Out.WriteLineAsync($"--verify: recovery finished in {clock.Elapsed.TotalSeconds:0.0} s: last transaction replayed {replayed}, " +
                                                 $"promoted at {r.GetString(0)} on timeline {r.GetInt32(1)}").ConfigureAwait(false);
            }

            // pg_amcheck needs the amcheck extension: add it where missing, and take it away again afterwards, so the
            // restored cluster holds exactly what the backup held.
            var added = new List<string>();
            var databases = new List<string>();
            await using (var conn = new NpgsqlConnection(cs))
            {
                await conn.OpenAsync(ct).ConfigureAwait(false);
                await using var cmd = new NpgsqlCommand("SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname", conn);
                await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                    databases.Add(r.GetString(0));
            }

            foreach (var db in databases)
            {
                await using var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(cs) { Database = db }.ToString());
                await conn.OpenAsync(ct).ConfigureAwait(false);
                await using var check = new NpgsqlCommand("SELECT count(*) FROM pg_extension WHERE extname = 'amcheck'", conn);
                if ((long)(await check.ExecuteScalarAsync(ct).ConfigureAwait(false))! == 0)
                {
                    await using var create = new NpgsqlCommand("CREATE EXTENSION amcheck", conn);
                    await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    added.Add(db);
                }
            }

            try
            {
                var output = await LocalPostgres.RunAsync(Path.Combine(bin, "pg_amcheck"),
                    ["--all", "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres"],
                    asPostgres: true, ct).ConfigureAwait(false);
                await Console.Out.WriteLineAsync($"--verify: pg_amcheck --all found no corruption in {databases.Count} database(s) {output.Trim()}")
                    .ConfigureAwait(false);
                return 0;
            }
            catch (PgVaultException ex)
            {
                await Console.Error.WriteLineAsync("--verify: pg_amcheck reported problems: " + ex.Message).ConfigureAwait(false);
                return Cli.ExitFailure;
            }
            finally
            {
                foreach (var db in added)
                {
                    await using var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(cs) { Database = db }.ToString());
                    await conn.OpenAsync(CancellationToken.None).ConfigureAwait(false);
                    await using var drop = new NpgsqlCommand("DROP EXTENSION amcheck", conn);
                    await drop.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            await LocalPostgres.RunAsync(Path.Combine(bin, "pg_ctl"), ["stop", "-m", "fast", "-w", "-D", dir], asPostgres: true, CancellationToken.None)
                .ConfigureAwait(false);
        }
    }

    private sealed class Progress(long total) : IProgress<long>
    {
        private DateTime _last = DateTime.MinValue;

        public void Report(long value)
        {
            if (DateTime.UtcNow - _last < TimeSpan.FromSeconds(Console.IsOutputRedirected ? 5 : 0.5))
                return;
            _last = DateTime.UtcNow;
            var text = $"restore: {value / 1e6:0.0} / {total / 1e6:0.0} MB ({(total > 0 ? 100.0 * value / total : 0):0}%)";
            if (Console.IsOutputRedirected)
                Console.Out.WriteLine(text);
            else
                Console.Out.Write("\r" + text + "   ");
        }
    }
}

/// <summary><c>pgvault wal-fetch --repository PATH --backup-id ID FILE DEST</c>: PostgreSQL's restore_command.</summary>
public static class WalFetchCommand
{
    public static Command Create()
    {
        var repository = new Option<string>("--repository") { Description = "Filesystem repository path", Required = true };
        var backupId = new Option<string>("--backup-id") { Description = "The backup (chain) to read", Required = true };
        var file = new Argument<string>("file") { Description = "WAL file name (%f)" };
        var destination = new Argument<string>("destination") { Description = "Where to write it (%p)" };
        var command = new Command("wal-fetch", "Serve a WAL file from a backup (for PostgreSQL's restore_command)")
        {
            repository, backupId, file, destination,
        };
        command.SetAction(async (result, ct) =>
        {
            var store = new LocalObjectStore(result.GetValue(repository)!);
            var (code, message) = await WalFetcher.FetchAsync(store, result.GetValue(backupId)!, result.GetValue(file)!,
                result.GetValue(destination)!, ct).ConfigureAwait(false);
            await (code == WalFetcher.Fatal ? Console.Error : Console.Out).WriteLineAsync("pgvault wal-fetch: " + message).ConfigureAwait(false);
            return code;
        });
        return command;
    }

    /// <summary>The restore_command that runs this program's wal-fetch (PostgreSQL substitutes %f and %p).</summary>
    public static string CommandLine(string repositoryPath, string backupId)
    {
        var process = Environment.ProcessPath ?? "pgvault";
        var self = Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? $"\"{process}\" \"{typeof(Cli).Assembly.Location}\""
            : $"\"{process}\"";
        return $"{self} wal-fetch --repository \"{Path.GetFullPath(repositoryPath)}\" --backup-id \"{backupId}\" \"%f\" \"%p\"";
    }
}

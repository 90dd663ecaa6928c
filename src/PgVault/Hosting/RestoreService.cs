using System.Globalization;
using Npgsql;
using PgVault.Configuration;
using PgVault.Engine.Postgres;
using PgVault.Engine.Chains;
using PgVault.Engine.Restore;
using PgVault.Errors;
using PgVault.Postgres;
using PgVault.Storage;

namespace PgVault.Hosting;

/// <summary>A backup found in a location: the store, the location's name and the chain as scanned from the repository.</summary>
public sealed record RestoreSource(string Location, IObjectStore Store, ScannedChain Chain)
{
    public string BackupId => Chain.Metadata!.BackupId;

    public string PostgresMajor => Chain.Metadata!.PostgresMajor;
}

/// <summary>What <see cref="RestoreService.VerifyAsync"/> found on a restored directory.</summary>
public sealed record VerifyResult(RecoveryResult Recovery, int Databases, string? AmcheckProblems)
{
    public bool Passed => AmcheckProblems is null;
}

/// <summary>
/// The steps of a restore shared by <c>pgvault restore</c> and the in-place restore of the API: find the backup, plan
/// against its recovery window, write the data directory with PgVault as its <c>restore_command</c>, and prove a result.
/// </summary>
public sealed class RestoreService(PgVaultOptions options, LocationStores stores, string? configFile, ILogger logger)
{
    /// <summary>The location holding backup <paramref name="backupId"/>: its cluster's configured location first, then every other.</summary>
    public async Task<RestoreSource> FindAsync(string backupId, CancellationToken ct)
    {
        var (cluster, _) = WalFetcher.ParseBackupId(backupId);
        var preferred = options.Clusters.FirstOrDefault(c => string.Equals(c.Id, cluster, StringComparison.OrdinalIgnoreCase))?.BackupLocation;
        var names = options.Locations.Keys.OrderBy(n => string.Equals(n, preferred, StringComparison.Ordinal) ? 0 : 1).ThenBy(n => n, StringComparer.Ordinal);
        foreach (var name in names)
        {
            var store = stores.Get(name);
            var chain = (await RepositoryScanner.ScanAsync(store, cluster, ct).ConfigureAwait(false))
                .FirstOrDefault(c => string.Equals(c.Metadata?.BackupId, backupId, StringComparison.Ordinal));
            if (chain is not null)
                return new RestoreSource(name, store, chain);
        }

        throw new PgVaultException(ErrorCode.NotFound, $"backup '{backupId}' is not in any configured location",
            "list backups with GET /clusters/backups; check PgVault:Locations");
    }

    /// <summary>The base backup and recovery settings that reach <paramref name="target"/>; refuses targets outside the window.</summary>
    public static async Task<RestorePlan> PlanAsync(RestoreSource source, RestoreTarget target, bool inclusive, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(source);
        var last = source.Chain.Wal.MaxBy(w => (w.Segment, w.End));
        var endTime = last is null ? DateTimeOffset.UtcNow
            : (await source.Store.StatAsync(last.Key, ct).ConfigureAwait(false))?.LastModified ?? DateTimeOffset.UtcNow;
        return RestorePlanner.Plan(source.Chain, target, endTime, inclusive);
    }

    /// <summary>PostgreSQL's <c>restore_command</c>: this program's <c>wal-fetch</c> reading the source's location.</summary>
    public string RestoreCommand(RestoreSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var loc = options.Locations[source.Location];
        List<string> args;
        if (string.Equals(loc.Type, LocationOptions.Filesystem, StringComparison.Ordinal))
        {
            args = ["--repository", LocationStores.FilesystemPath(options, loc)];
        }
        else
        {
            // Other stores need their settings (endpoint, credentials, keys): wal-fetch reads the same configuration.
            args = ["--location", source.Location];
            if (configFile is not null)
                args.InsertRange(0, ["--config", Path.GetFullPath(configFile)]);
        }

        // A spool of this restore's own: segments fetched ahead are taken by the shell (a rename), without starting PgVault.
        var spools = Path.Combine(Path.GetTempPath(), "pgvault-prefetch");
        if (!Directory.Exists(spools))
        {
            // Shared like /tmp (sticky, world-writable): the server's OS user creates its restore's spool in it.
            Directory.CreateDirectory(spools);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(spools, (UnixFileMode)Convert.ToInt32("1777", 8));
        }

        var spool = Path.Combine(spools, $"{source.BackupId}-{Guid.NewGuid():N}"[..^24]);
        args.AddRange(["--spool", spool]);
        var fetch = WalFetchCommandLine.Build(args, source.BackupId);
        return $"f=\"{spool}/%f\"; if [ -f \"$f\" ]; then mv -f \"$f\" \"%p\"; else {fetch}; fi";
    }

    /// <summary>
    /// Writes the planned base backup into <paramref name="directory"/> with the recovery settings, owned by the
    /// <c>postgres</c> OS user (or <paramref name="owner"/>) when running as root. Returns the bytes written.
    /// Files are written with direct I/O where the filesystem supports it, unless <paramref name="directIo"/> is false.
    /// </summary>
    public async Task<long> RestoreToAsync(RestoreSource source, RestorePlan plan, string directory, bool force, string? owner,
        IProgress<long>? progress, CancellationToken ct, bool directIo = true)
    {
        ArgumentNullException.ThrowIfNull(source);
        var bytes = await new RestoreExecutor(source.Store, logger, directIo: directIo).RestoreAsync(plan, directory, RestoreCommand(source), force, progress, ct)
            .ConfigureAwait(false);
        if (LocalPostgres.IsRoot)
            await LocalPostgres.RunAsync("chown", ["-R", owner ?? "postgres:postgres", directory], asPostgres: false, ct).ConfigureAwait(false);
        return bytes;
    }

    /// <summary>
    /// Starts a temporary PostgreSQL on a restored directory (free loopback port), waits for recovery to end, runs
    /// <c>pg_amcheck --all</c>, and stops it.
    /// </summary>
    public async Task<VerifyResult> VerifyAsync(string directory, Lsn end, IProgress<RecoveryProgress>? progress, CancellationToken ct)
    {
        var bin = PostgresTools.FindBinDirectory(options.Engine.PostgresBinDirectory)
                  ?? throw new PgVaultException(ErrorCode.PostgresUnavailable, "PostgreSQL's programs were not found for --verify",
                      "set PgVault:Engine:PostgresBinDirectory");
        var port = LocalPostgres.FreePort();
        var socketDir = Path.Combine(Path.GetTempPath(), $"pgvault-verify-{port}");
        Directory.CreateDirectory(socketDir);
        // The restored pg_hba.conf is the backed-up cluster's (passwords, certificates, peer maps): the temporary server
        // reads this one instead, takes no TCP connections at all, and lets in only whoever can reach its socket, in a
        // directory of the postgres OS user.
        var hba = Path.Combine(socketDir, "pg_hba.conf");
        await File.WriteAllTextAsync(hba, "local all all trust\n", ct).ConfigureAwait(false);
        if (LocalPostgres.IsRoot)
            await LocalPostgres.RunAsync("chown", ["postgres:postgres", socketDir, hba], asPostgres: false, ct).ConfigureAwait(false);
        var log = Path.Combine(socketDir, "postgres.log");
        try
        {
            await LocalPostgres.RunAsync(Path.Combine(bin, "pg_ctl"),
                ["start", "-w", "-t", "3600", "-D", directory, "-l", log,
                 "-o", $"-p {port} -c listen_addresses='' -c unix_socket_directories={socketDir} -c unix_socket_permissions=0700 -c hba_file={hba} -c archive_mode=off"],
                asPostgres: true, ct).ConfigureAwait(false);
        }
        catch (PgVaultException ex)
        {
            throw new PgVaultException(ErrorCode.PostgresUnavailable, $"the restored server did not start: {ex.Message} {RecoveryMonitor.LogTail(log)}");
        }

        try
        {
            var cs = $"Host={socketDir};Port={port};Username=postgres;Database=postgres;Pooling=false";
            var recovery = await RecoveryMonitor.WaitForPromotionAsync(cs, end, options.Engine.RecoveryTimeout, () => RecoveryMonitor.LogTail(log),
                progress, ct).ConfigureAwait(false);
            var (databases, problems) = await AmcheckAsync(bin, cs, socketDir, port, ct).ConfigureAwait(false);
            return new VerifyResult(recovery, databases, problems);
        }
        finally
        {
            try
            {
                await LocalPostgres.RunAsync(Path.Combine(bin, "pg_ctl"), ["stop", "-m", "fast", "-w", "-D", directory], asPostgres: true, CancellationToken.None)
                    .ConfigureAwait(false);
            }
            catch (PgVaultException ex)
            {
                logger.LogWarning("restore --verify: stopping the temporary server failed: {Error}", ex.Message);
            }
        }
    }

    /// <summary>
    /// pg_amcheck needs the amcheck extension: adds it where missing and takes it away again afterwards, so the restored
    /// cluster holds exactly what the backup held. Returns the databases checked and pg_amcheck's complaint, if any.
    /// </summary>
    private static async Task<(int Databases, string? Problems)> AmcheckAsync(string bin, string cs, string socketDir, int port, CancellationToken ct)
    {
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

        try
        {
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
                await LocalPostgres.RunAsync(Path.Combine(bin, "pg_amcheck"),
                    ["--all", "-h", socketDir, "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres"],
                    asPostgres: true, ct).ConfigureAwait(false);
                return (databases.Count, null);
            }
            catch (PgVaultException ex)
            {
                return (databases.Count, ex.Message);
            }
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
}

/// <summary>The <c>restore_command</c> that runs this program's <c>wal-fetch</c> (PostgreSQL substitutes %f and %p).</summary>
public static class WalFetchCommandLine
{
    public static string Build(IEnumerable<string> locationArgs, string backupId)
    {
        var (program, prefix) = Self();
        var self = string.Join(' ', new[] { program }.Concat(prefix).Select(a => $"\"{a}\""));
        var args = string.Join(' ', locationArgs.Select(a => a.StartsWith("--", StringComparison.Ordinal) ? a : $"\"{a}\""));
        return $"{self} wal-fetch {args} --backup-id \"{backupId}\" \"%f\" \"%p\"";
    }

    /// <summary>How to run this same pgvault build: the program and the arguments before the command.</summary>
    public static (string Program, IReadOnlyList<string> Prefix) Self()
    {
        var process = Environment.ProcessPath ?? "pgvault";
        var pgvault = typeof(WalFetchCommandLine).Assembly;
        if (System.Reflection.Assembly.GetEntryAssembly() == pgvault && Path.GetFileNameWithoutExtension(process) != "dotnet")
            return (process, []); // the pgvault executable itself
        // Run as "dotnet pgvault.dll" (or hosted by another program, e.g. a test host): the same build, through the muxer.
        var dotnet = Path.GetFileNameWithoutExtension(process) == "dotnet" ? process
            : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        return (dotnet, [pgvault.Location]);
    }
}

using System.Globalization;
using Microsoft.Extensions.Logging;
using PgVault.Configuration;
using PgVault.Engine.Postgres;
using PgVault.Engine.Repository;
using PgVault.Engine.Storage;
using PgVault.Errors;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Text;

namespace PgVault.Engine.Restore;

/// <summary>A backup found in a location: the store, the location's name and the chain as scanned from the repository.</summary>
public sealed record RestoreSource(string Location, IObjectStore Store, ScannedChain Chain)
{
    public string BackupId => Chain.Metadata!.BackupId;

    public string PostgresMajor => Chain.Metadata!.PostgresMajor;
}

/// <summary>What <see cref="RestoreService.VerifyAsync"/> found on a restored directory.</summary>
/// <param name="Recovery">How recovery ended.</param>
/// <param name="Databases">The databases checked.</param>
/// <param name="AmcheckProblems">What the check found, or null when nothing.</param>
/// <param name="Checker">What checked the restored cluster: <c>pg_amcheck --all</c>, or amcheck's SQL functions where the
/// restored major's programs have no pg_amcheck.</param>
public sealed record VerifyResult(RecoveryResult Recovery, int Databases, string? AmcheckProblems, string Checker = "pg_amcheck --all")
{
    public bool Passed => AmcheckProblems is null;
}

/// <summary>
/// The steps of a restore shared by <c>pgvault restore</c> and the in-place restore of the API: find the backup, plan
/// against its recovery window, write the data directory with PgVault as its <c>restore_command</c>, and prove a result.
/// </summary>
/// <param name="options">The configuration: locations, clusters, engine settings.</param>
/// <param name="storeOf">The store of a configured location, by name.</param>
/// <param name="pgvault">How the restored server runs this pgvault build for its <c>restore_command</c>.</param>
/// <param name="configFile">The configuration file <c>wal-fetch</c> reads for locations that need their settings, or null.</param>
/// <param name="logger">Where warnings go.</param>
public sealed class RestoreService(PgVaultOptions options, Func<string, IObjectStore> storeOf, PgVaultInvocation pgvault, string? configFile,
    ILogger logger)
{
    /// <summary>The location holding backup <paramref name="backupId"/>: its cluster's configured location first, then every other.</summary>
    public async Task<RestoreSource> FindAsync(string backupId, CancellationToken ct)
    {
        var (cluster, _) = WalFetcher.ParseBackupId(backupId);
        var preferred = options.Clusters.FirstOrDefault(c => string.Equals(c.Id, cluster, StringComparison.OrdinalIgnoreCase))?.BackupLocation;
        var names = options.Locations.Keys.OrderBy(n => string.Equals(n, preferred, StringComparison.Ordinal) ? 0 : 1).ThenBy(n => n, StringComparer.Ordinal);
        foreach (var name in names)
        {
            var store = storeOf(name);
            var chain = (await RepositoryScanner.ScanAsync(store, cluster, ct).ConfigureAwait(false))
                .FirstOrDefault(c => string.Equals(c.Metadata?.BackupId, backupId, StringComparison.Ordinal));
            if (chain is not null)
                return new RestoreSource(name, store, chain);
        }

        throw new PgVaultException(ErrorCode.NotFound, $"backup '{backupId}' is not in any configured location",
            "list backups with GET /clusters/backups; check PgVault:Locations");
    }

    /// <summary>
    /// The base backup and recovery settings that reach <paramref name="target"/>; refuses targets outside the window. With
    /// <paramref name="baseBackupLabel"/>, from that base backup (<see cref="RestorePlanner.PlanFrom"/>).
    /// </summary>
    public static async Task<RestorePlan> PlanAsync(RestoreSource source, RestoreTarget target, bool inclusive, CancellationToken ct,
        string? baseBackupLabel = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        var last = source.Chain.Wal.MaxBy(w => (w.Segment, w.End));
        var endTime = last is null ? DateTimeOffset.UtcNow
            : (await source.Store.StatAsync(last.Key, ct).ConfigureAwait(false))?.LastModified ?? DateTimeOffset.UtcNow;
        return RestorePlanner.Plan(source.Chain, target, endTime, inclusive, baseBackupLabel);
    }

    /// <summary>PostgreSQL's <c>restore_command</c>: this program's <c>wal-fetch</c> reading the source's location.</summary>
    public string RestoreCommand(RestoreSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var loc = options.Locations[source.Location];
        List<string> args;
        if (string.Equals(loc.Type, LocationOptions.Filesystem, StringComparison.Ordinal) && loc.Encryption is null)
        {
            args = ["--repository", options.FilesystemPath(loc)];
        }
        else
        {
            // Other stores, and an encrypted directory, need their settings (endpoint, credentials, keys): wal-fetch
            // reads the same configuration. A bare --repository would hand it ciphertext.
            if (configFile is null && loc.Encryption is not null)
            {
                throw new PgVaultException(ErrorCode.InvalidConfiguration,
                    $"location '{source.Location}' is encrypted, and the restored server's restore_command (pgvault wal-fetch) needs its keys",
                    "give the configuration as a file (--config FILE) that the postgres OS user can read");
            }

            // Other stores need their settings (endpoint, credentials, keys): wal-fetch reads the same configuration.
            args = ["--location", source.Location];
            if (configFile is not null)
                args.InsertRange(0, ["--config", Path.GetFullPath(configFile)]);
        }

        // Segments fetched ahead wait in a spool inside the restored data directory's pg_wal (private to PostgreSQL's OS
        // user: mode 0700, which only that user and root can write). restore_command runs with the data directory as its
        // working directory, so the relative path survives moving the directory. wal-fetch creates the spool (0700) and
        // refuses one that is not its own; the shell takes a segment from it without starting PgVault only when the spool
        // is a real directory owned by the user running the command.
        args.AddRange(["--spool", WalFetcher.SpoolDirectory]);
        if (options.Engine.WalPrefetchSegments != EngineOptions.DefaultWalPrefetchSegments)
            args.AddRange(["--prefetch", options.Engine.WalPrefetchSegments.ToString(CultureInfo.InvariantCulture)]);
        if (options.Engine.WalPrefetchJobs != EngineOptions.DefaultWalPrefetchJobs)
            args.AddRange(["--prefetch-jobs", options.Engine.WalPrefetchJobs.ToString(CultureInfo.InvariantCulture)]);
        return WalSpoolCommand.Build(WalFetchCommandLine.Build(pgvault.Program, pgvault.Prefix, args, source.BackupId));
    }

    /// <summary>
    /// Writes the planned base backup into <paramref name="directory"/> with the recovery settings, owned by the
    /// <c>postgres</c> OS user (or <paramref name="owner"/>) when running as root. Returns the bytes written.
    /// Files are written with direct I/O where the filesystem supports it, unless <paramref name="directIo"/> is false;
    /// <paramref name="jobs"/> parts are fetched at once (default <c>Engine:RestoreJobs</c>).
    /// </summary>
    public async Task<long> RestoreToAsync(RestoreSource source, RestorePlan plan, string directory, bool force, string? owner,
        IProgress<long>? progress, CancellationToken ct, bool directIo = true, int? jobs = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        var loc = options.Locations[source.Location];
        if (LocalPostgres.IsRoot && string.Equals(loc.Type, LocationOptions.Filesystem, StringComparison.Ordinal))
            await CheckPostgresCanReadAsync(options.FilesystemPath(loc), ct).ConfigureAwait(false);
        // As root the files change owners after they are written: one sync after the chown makes both durable (a syncfs
        // costs a few tenths of a second even with nothing left to write). Either way the directory is on disk before
        // this returns, and a failed chown fails the restore.
        var chown = LocalPostgres.IsRoot;
        var bytes = await new RestoreExecutor(source.Store, logger, jobs ?? options.Engine.RestoreJobs, directIo)
            .RestoreAsync(plan, directory, RestoreCommand(source), force, progress, ct, makeDurable: !chown).ConfigureAwait(false);
        if (chown)
        {
            await LocalPostgres.RunAsync("chown", ["-R", owner ?? "postgres:postgres", directory], asPostgres: false, ct).ConfigureAwait(false);
            RestoreExecutor.MakeDurable(directory, logger); // the files' data and their new owners
        }

        return bytes;
    }

    /// <summary>
    /// The restored server runs <c>pgvault wal-fetch</c> as the postgres OS user, which must read the repository; it is
    /// private to PgVault's user unless shared (<see cref="PgVaultOptions.GroupAccess"/> and the directory's group).
    /// Checked before anything is written, instead of failing at the first WAL segment of recovery.
    /// </summary>
    private static async Task CheckPostgresCanReadAsync(string repository, CancellationToken ct)
    {
        try
        {
            await LocalPostgres.RunAsync("test", ["-r", repository, "-a", "-x", repository], asPostgres: true, ct).ConfigureAwait(false);
        }
        catch (PgVaultException)
        {
            throw new PgVaultException(ErrorCode.InvalidConfiguration,
                $"the postgres OS user cannot read the repository '{repository}', and the restored server's restore_command (pgvault wal-fetch) runs as that user",
                "share the repository with PostgreSQL's group: set PgVault:GroupAccess to true for the PgVault that writes it and run " +
                "'chgrp -R postgres DIR; chmod -R g+rX DIR; find DIR -type d -exec chmod g+s {} +' on it (see docs/SECURITY.md)");
        }
    }

    /// <summary>
    /// Starts a temporary PostgreSQL on a restored directory (free loopback port), waits for recovery to end, runs
    /// <c>pg_amcheck --all</c> (or amcheck's functions, see <see cref="PostgresMajor.AmcheckIndexSql"/>), and stops it. The
    /// server is the restored directory's own major (<see cref="PostgresTools.FindServerBinDirectory"/>).
    /// </summary>
    public async Task<VerifyResult> VerifyAsync(string directory, Lsn end, IProgress<RecoveryProgress>? progress, CancellationToken ct)
    {
        var major = await MajorOfAsync(directory, ct).ConfigureAwait(false);
        var bin = PostgresTools.FindServerBinDirectory(options.Engine, major)
                  ?? throw new PgVaultException(ErrorCode.PostgresUnavailable, $"PostgreSQL {major}'s programs (pg_ctl, postgres) were not found for --verify",
                      $"set PgVault:Engine:PostgresBinDirectories:{major} to the directory holding PostgreSQL {major}'s pg_ctl");
        var port = LocalPostgres.FreePort();
        // A fresh private directory (mkdtemp-like, 0700) for the server's socket and log, given to the postgres OS user
        // when running as root, and removed afterwards, whatever happened.
        var socketDir = PrivateFiles.CreateTempDirectory(VerifyTempParent(), "pgvault-verify-");
        try
        {
            return await VerifyInAsync(bin, major, directory, port, socketDir, end, progress, ct).ConfigureAwait(false);
        }
        finally
        {
            try
            {
                Directory.Delete(socketDir, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                logger.LogWarning("restore --verify: removing the temporary directory {Directory} failed: {Error}", socketDir, ex.Message);
            }
        }
    }

    /// <summary>
    /// Where --verify makes its temporary directory: the temp directory, unless its path is one that pg_ctl (which quotes
    /// the log path in double quotes for /bin/sh) or a Unix socket path (at most 107 bytes) cannot take; /tmp then.
    /// </summary>
    internal static string VerifyTempParent()
    {
        var temp = Path.GetTempPath();
        return temp.Length <= 48 && temp.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '_' or '-') ? temp : "/tmp";
    }

    private async Task<VerifyResult> VerifyInAsync(string bin, PostgresMajor major, string directory, int port, string socketDir, Lsn end,
        IProgress<RecoveryProgress>? progress, CancellationToken ct)
    {
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
                 "-o", string.Join(' ', new[] { "-p", port.ToString(CultureInfo.InvariantCulture), "-c", "listen_addresses=",
                     "-c", $"unix_socket_directories={socketDir}", "-c", "unix_socket_permissions=0700", "-c", $"hba_file={hba}",
                     "-c", "archive_mode=off" }.Select(w => SafeText.ShellWord(w)))],
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
            if (File.Exists(Path.Combine(bin, "pg_amcheck")))
            {
                var (databases, problems) = await AmcheckAsync(bin, cs, socketDir, port, ct).ConfigureAwait(false);
                return new VerifyResult(recovery, databases, problems);
            }

            var (checkedDatabases, found) = await AmcheckSqlAsync(major, cs, ct).ConfigureAwait(false);
            return new VerifyResult(recovery, checkedDatabases, found, "amcheck (bt_index_check, verify_heapam)");
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

    /// <summary>The major of the data directory <paramref name="directory"/> (its <c>PG_VERSION</c>), if PgVault supports it.</summary>
    public static async Task<PostgresMajor> MajorOfAsync(string directory, CancellationToken ct)
    {
        var file = Path.Combine(directory, "PG_VERSION");
        if (!File.Exists(file))
        {
            throw new PgVaultException(ErrorCode.ValidationFailed, $"'{directory}' is not a PostgreSQL data directory: it has no PG_VERSION",
                "give the directory that holds PG_VERSION and base/");
        }

        return PostgresMajor.Require(await File.ReadAllTextAsync(file, ct).ConfigureAwait(false), $"the data directory '{directory}'");
    }

    /// <summary>
    /// What pg_amcheck --all checks, in SQL (<see cref="PostgresServer.AmcheckProblemsAsync"/>), for binaries without
    /// pg_amcheck; like <see cref="AmcheckAsync"/> it adds the extension where missing and takes it away again afterwards.
    /// Returns the databases checked and the problems found, if any.
    /// </summary>
    private static async Task<(int Databases, string? Problems)> AmcheckSqlAsync(PostgresMajor major, string cs, CancellationToken ct)
    {
        var server = new PostgresServer(cs);
        var databases = await server.ConnectableDatabasesAsync(ct).ConfigureAwait(false);
        var problems = new List<string>();
        foreach (var db in databases)
        {
            var added = await server.AddAmcheckAsync(db, ct).ConfigureAwait(false);
            try
            {
                problems.AddRange((await server.AmcheckProblemsAsync(db, major, ct).ConfigureAwait(false)).Select(p => $"database {db}: {p}"));
            }
            finally
            {
                if (added)
                    await server.DropAmcheckAsync(db, CancellationToken.None).ConfigureAwait(false);
            }
        }

        return (databases.Count, problems.Count == 0 ? null : string.Join("; ", problems));
    }

    /// <summary>
    /// pg_amcheck needs the amcheck extension: adds it where missing and takes it away again afterwards, so the restored
    /// cluster holds exactly what the backup held. Returns the databases checked and pg_amcheck's complaint, if any.
    /// </summary>
    private static async Task<(int Databases, string? Problems)> AmcheckAsync(string bin, string cs, string socketDir, int port, CancellationToken ct)
    {
        var server = new PostgresServer(cs);
        var added = new List<string>();
        var databases = await server.ConnectableDatabasesAsync(ct).ConfigureAwait(false);
        try
        {
            foreach (var db in databases)
            {
                if (await server.AddAmcheckAsync(db, ct).ConfigureAwait(false))
                    added.Add(db);
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
                await server.DropAmcheckAsync(db, CancellationToken.None).ConfigureAwait(false);
        }
    }
}

using System.CommandLine;
using System.Globalization;
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
/// <c>pgvault wal-fetch (--repository PATH | --location NAME [--config FILE]) --backup-id ID FILE DEST</c>: PostgreSQL's
/// restore_command. A filesystem repository is named by its path; any other location by its name in the configuration.
/// </summary>
public static class WalFetchCommand
{
    public static Command Create()
    {
        var config = Cli.ConfigOption();
        var repository = new Option<string?>("--repository") { Description = "Filesystem repository path, e.g. /var/lib/pgvault/repository", HelpName = "PATH" };
        var location = new Option<string?>("--location") { Description = "A configured location's name (read with the configuration), e.g. --location s3", HelpName = "NAME" };
        var backupId = new Option<string>("--backup-id") { Description = "The backup (chain) to read, e.g. 6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f", HelpName = "ID", Required = true };
        var prefetch = new Option<int>("--prefetch")
        {
            Description = "Whole segments to fetch ahead in the background (0: none), e.g. --prefetch 16",
            HelpName = "N",
            DefaultValueFactory = _ => WalFetcher.DefaultPrefetchSegments,
        };
        var spool = new Option<string?>("--spool")
        {
            Description = "Private directory for segments fetched ahead, e.g. /var/lib/postgresql/restore/pg_wal/pgvault-spool " +
                          "(default: pgvault-spool beside DEST, i.e. in pg_wal); one that is not this user's own (mode 0700) is refused",
            HelpName = "DIR",
        };
        var prefetchOnly = new Option<bool>("--prefetch-only") { Description = "Only fetch the segments after FILE into the spool", Hidden = true };
        var file = new Argument<string>("file") { Description = "WAL file name (%f)" };
        var destination = new Argument<string>("destination") { Description = "Where to write it (%p)" };
        var command = new Command("wal-fetch", "Serve a WAL file from a backup (for PostgreSQL's restore_command)")
        {
            config, repository, location, backupId, prefetch, spool, prefetchOnly, file, destination,
        };
        command.SetAction(async (result, ct) =>
        {
            IObjectStore store;
            if (result.GetValue(repository) is { } path)
                store = new LocalObjectStore(path);
            else if (result.GetValue(location) is { } name)
                store = new LocationStores(Cli.LoadOptions(result, config)).Get(name);
            else
                throw new PgVaultException(ErrorCode.InvalidConfiguration, "wal-fetch needs --repository PATH or --location NAME");
            var id = result.GetValue(backupId)!;
            var fileName = result.GetValue(file)!;
            var spoolDir = result.GetValue(spool) ?? WalFetcher.DefaultSpool(result.GetValue(destination)!);
            var ahead = Math.Max(0, result.GetValue(prefetch));
            if (result.GetValue(prefetchOnly))
                return await PrefetchAsync(store, id, fileName, ahead, spoolDir, ct).ConfigureAwait(false);

            int code;
            string message;
            try
            {
                (code, message) = await WalFetcher.FetchAsync(store, id, fileName, result.GetValue(destination)!, ct,
                    ahead > 0 ? spoolDir : null).ConfigureAwait(false);
            }
            catch (PgVaultException ex) when (ex.Code == ErrorCode.RepositoryFormatTooNew)
            {
                // Not "no such file" (exit 1), which would end recovery early as if the WAL ended here.
                (code, message) = (WalFetcher.Fatal, ex.Describe());
            }

            await (code == WalFetcher.Fatal ? Console.Error : Console.Out).WriteLineAsync("pgvault wal-fetch: " + message).ConfigureAwait(false);
            if (code == 0 && ahead > 0 && WalSegment.TryParse(fileName, out _, out _))
                StartPrefetcher(spoolDir);
            return code;
        });
        return command;
    }

    /// <summary>
    /// Starts this same command again, detached, with <c>--prefetch-only</c>: it fetches the next segments into the spool
    /// while PostgreSQL replays this one. At most one prefetcher per spool runs (a lock file; one untouched for a minute is stale).
    /// </summary>
    private static void StartPrefetcher(string spool)
    {
        try
        {
            spool = PrivateFiles.EnsurePrivateDirectory(spool, "the WAL spool");
            var lockFile = Path.Combine(spool, ".prefetching");
            if (PrivateFiles.LStat(lockFile) is not null)
            {
                if (File.GetLastWriteTimeUtc(lockFile) > DateTime.UtcNow.AddMinutes(-1))
                    return; // a prefetcher runs (it touches the lock every round)
                File.Delete(lockFile);
            }

            using (var held = PrivateFiles.CreateNew(lockFile, bufferSize: 0, options: FileOptions.None))
                held.Write(System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture)));
            var (program, prefix) = PgVaultExecutable.Self();
            var psi = new System.Diagnostics.ProcessStartInfo(program) { UseShellExecute = false };
            foreach (var a in prefix.Concat(Environment.GetCommandLineArgs().Skip(1))) // [0] is this program
                psi.ArgumentList.Add(a);
            psi.ArgumentList.Add("--prefetch-only");
            using var _ = System.Diagnostics.Process.Start(psi);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception or PgVaultException)
        {
            Console.Error.WriteLine("pgvault wal-fetch: not fetching ahead: " + ex.Message);
        }
    }

    private static async Task<int> PrefetchAsync(IObjectStore store, string backupId, string fileName, int count, string spool, CancellationToken ct)
    {
        var lockFile = Path.Combine(spool, ".prefetching");
        try
        {
            await WalFetcher.PrefetchAheadAsync(store, backupId, fileName, count, spool, TimeSpan.FromSeconds(30),
                () => File.SetLastWriteTimeUtc(lockFile, DateTime.UtcNow), ct).ConfigureAwait(false);
            return 0;
        }
        catch (PgVaultException ex)
        {
            await Console.Error.WriteLineAsync("pgvault wal-fetch: not fetching ahead: " + ex.Message).ConfigureAwait(false);
            return 0;
        }
        finally
        {
            // Only in a spool of this user's own: never touch another user's directory.
            if (PrivateFiles.LStat(spool) is { IsDirectory: true, IsLink: false } s && s.Uid == PrivateFiles.EffectiveUid)
            {
                File.Delete(lockFile);
                if (!Directory.EnumerateFileSystemEntries(spool).Any())
                    Directory.Delete(spool);
            }
        }
    }
}

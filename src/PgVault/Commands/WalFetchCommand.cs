using System.CommandLine;
using System.Runtime.InteropServices;
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
        var jobs = new Option<int>("--prefetch-jobs")
        {
            Description = "Segments fetched at once ahead of recovery, e.g. --prefetch-jobs 8",
            HelpName = "N",
            DefaultValueFactory = _ => WalFetchAgent.DefaultJobs,
        };
        var agent = new Option<bool>("--agent") { Description = "Run the spool's fetch agent until recovery ends", Hidden = true };
        var file = new Argument<string>("file") { Description = "WAL file name (%f)" };
        var destination = new Argument<string>("destination") { Description = "Where to write it (%p)" };
        var command = new Command("wal-fetch", "Serve a WAL file from a backup (for PostgreSQL's restore_command)")
        {
            config, repository, location, backupId, prefetch, jobs, spool, agent, file, destination,
        };
        command.SetAction(async (result, ct) =>
        {
            var id = result.GetValue(backupId)!;
            var fileName = result.GetValue(file)!;
            var spoolDir = result.GetValue(spool) ?? WalFetcher.DefaultSpool(result.GetValue(destination)!);
            var ahead = Math.Max(0, result.GetValue(prefetch));
            if (result.GetValue(agent))
            {
                var options = new WalFetchAgentOptions { AheadSegments = Math.Max(1, ahead), Jobs = Math.Max(1, result.GetValue(jobs)) };
                return await RunAgentAsync(OpenStore(result, repository, location, config), id, fileName, spoolDir, options, ct).ConfigureAwait(false);
            }

            // The agent starts before this fetch (not after it): its process start overlaps this one's work.
            using var starting = ahead > 0 ? StartAgent(spoolDir) : null;
            int code;
            string message;
            try
            {
                (code, message) = await WalFetcher.FetchAsync(OpenStore(result, repository, location, config), id, fileName,
                    result.GetValue(destination)!, ct, ahead > 0 ? spoolDir : null).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is PgVaultException or IOException or UnauthorizedAccessException or InvalidDataException
                                           or HttpRequestException or OperationCanceledException)
            {
                // Never "no such file" (exit 1), which would end recovery early as if the WAL ended here: a corrupt,
                // unreadable or too new object, or a configuration that cannot be read, stops recovery, named in
                // PostgreSQL's log.
                (code, message) = (WalFetcher.Fatal, ex is PgVaultException p ? p.Describe() : $"{fileName}: {ex.Message}");
            }

            await (code == WalFetcher.Fatal ? Console.Error : Console.Out).WriteLineAsync("pgvault wal-fetch: " + message).ConfigureAwait(false);
            if (starting is not null && code != WalFetcher.Fatal)
                WaitForAgent(spoolDir, starting);
            return code;
        });
        return command;
    }

    private static IObjectStore OpenStore(ParseResult result, Option<string?> repository, Option<string?> location, Option<FileInfo?> config)
    {
        if (result.GetValue(repository) is { } path)
            return new LocalObjectStore(path);
        if (result.GetValue(location) is { } name)
            return new LocationStores(Cli.LoadOptions(result, config)).Get(name);
        throw new PgVaultException(ErrorCode.InvalidConfiguration, "wal-fetch needs --repository PATH or --location NAME");
    }

    /// <summary>
    /// Starts this same command again, detached, with <c>--agent</c> (<see cref="WalFetchAgent"/>): it keeps the next
    /// segments in the spool and answers the restore_command's requests until recovery ends. Only for a data directory
    /// in recovery (the working directory, where PostgreSQL runs restore_command), and only when no agent holds the
    /// spool; null when none was started.
    /// </summary>
    private static System.Diagnostics.Process? StartAgent(string spool)
    {
        try
        {
            if (!WalFetchAgent.IsRecovering(Directory.GetCurrentDirectory()))
                return null;
            spool = PrivateFiles.EnsurePrivateDirectory(spool, "the WAL spool");
            if (WalFetchAgent.IsRunning(spool))
                return null;
            var (program, prefix) = PgVaultExecutable.Self();
            var psi = new System.Diagnostics.ProcessStartInfo(program) { UseShellExecute = false };
            foreach (var a in prefix.Concat(Environment.GetCommandLineArgs().Skip(1))) // [0] is this program
                psi.ArgumentList.Add(a);
            psi.ArgumentList.Add("--agent");
            return System.Diagnostics.Process.Start(psi);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception or PgVaultException)
        {
            Console.Error.WriteLine("pgvault wal-fetch: not fetching ahead: " + ex.Message);
            return null;
        }
    }

    /// <summary>
    /// Recovery's next request comes as soon as this one ends: waits (bounded) until the agent <paramref name="started"/>
    /// holds the spool and can answer it, so that it does not start PgVault once more.
    /// </summary>
    private static void WaitForAgent(string spool, System.Diagnostics.Process started)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!WalFetchAgent.IsRunning(spool) && !started.HasExited && DateTime.UtcNow < deadline)
            Thread.Sleep(10);
    }

    private static async Task<int> RunAgentAsync(IObjectStore store, string backupId, string fileName, string spool, WalFetchAgentOptions options,
        CancellationToken ct)
    {
        // PostgreSQL signals the startup process's group when it stops (TERM fast, QUIT immediate, INT smart): an
        // abandoned recovery; the agent then removes the spool and ends.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var registrations = new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT }
            .Select(s => PosixSignalRegistration.Create(s, c =>
            {
                c.Cancel = true;
                stop.Cancel();
            }))
            .ToList();
        try
        {
            var agent = new WalFetchAgent(store, backupId, spool, Directory.GetCurrentDirectory(), options, Console.Error);
            await agent.RunAsync(fileName, stop.Token).ConfigureAwait(false);
            return 0;
        }
        catch (PgVaultException ex)
        {
            await Console.Error.WriteLineAsync("pgvault wal-fetch: not fetching ahead: " + ex.Message).ConfigureAwait(false);
            return 0;
        }
        finally
        {
            foreach (var r in registrations)
                r.Dispose();
        }
    }
}

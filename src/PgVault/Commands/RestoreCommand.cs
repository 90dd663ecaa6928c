using System.CommandLine;
using System.Globalization;
using Npgsql;
using PgVault.Engine.BaseBackup;
using PgVault.Engine.Chains;
using PgVault.Engine.Restore;
using PgVault.Errors;
using PgVault.Hosting;
using PgVault.Postgres;

namespace PgVault.Commands;

/// <summary>
/// <c>pgvault restore --backup-id ID --to DIR [target] [--base-backup LABEL] [--verify]</c>: a data directory recovered to a
/// point of the backup's recovery window (or of what one base backup reaches), with PgVault as its <c>restore_command</c>.
/// </summary>
public static class RestoreCommand
{
    public static Command Create()
    {
        var config = Cli.ConfigOption();
        var backupId = new Option<string>("--backup-id")
        {
            Description = "The backup (chain) to restore from, e.g. --backup-id 6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f", HelpName = "ID", Required = true,
        };
        var to = new Option<DirectoryInfo>("--to")
        {
            Description = "Target data directory (empty, or --force), e.g. --to /var/lib/postgresql/15/restored", HelpName = "DIR", Required = true,
        };
        var time = new Option<DateTimeOffset?>("--target-time")
        {
            Description = "Recover to this time: ISO 8601 with an offset or Z, e.g. 2026-12-01T10:00:00Z",
            HelpName = "TIME",
            CustomParser = Cli.ParseTimeOption,
        };
        var lsn = new Option<Lsn?>("--target-lsn")
        {
            Description = "Recover to this WAL position, e.g. 0/3000060",
            HelpName = "LSN",
            CustomParser = r => Lsn.TryParse(r.Tokens[0].Value, out var v) ? v
                : Fail<Lsn?>(r, $"--target-lsn '{r.Tokens[0].Value}' is not a WAL position: give e.g. 0/3000060"),
        };
        var xid = new Option<ulong?>("--target-xid")
        {
            Description = "Recover to this transaction id, e.g. 7412",
            HelpName = "XID",
            CustomParser = r => ulong.TryParse(r.Tokens[0].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
                : Fail<ulong?>(r, $"--target-xid '{r.Tokens[0].Value}' is not a transaction id: give a whole number, e.g. 7412"),
        };
        var name = new Option<string?>("--target-name") { Description = "Recover to this restore point (pg_create_restore_point), e.g. before-upgrade", HelpName = "NAME" };
        var immediate = new Option<string?>("--target")
        {
            Description = "Only 'immediate': stop at the base backup's consistency point, e.g. --target immediate", HelpName = "immediate",
        };
        immediate.AcceptOnlyFromAmong("immediate");
        var baseBackup = new Option<string?>("--base-backup")
        {
            Description = "Start from this base backup (its label, as 'pgvault info' shows it) instead of the one the target chooses; " +
                          "a kept base backup whose later WAL expiry removed restores to its consistency point, e.g. --base-backup 20261201T100000123Z " +
                          "(default: the newest that reaches the target)",
            HelpName = "LABEL",
        };
        var exclusive = new Option<bool>("--exclusive") { Description = "Stop just before the target instead of just after it" };
        var force = new Option<bool>("--force") { Description = "Replace the contents of a non-empty target directory" };
        var verify = new Option<bool>("--verify") { Description = "Start PostgreSQL on the result, wait for recovery, run pg_amcheck, stop it" };
        var bufferedIo = new Option<bool>("--buffered-io")
        {
            Description = "Write the files through the page cache instead of with direct I/O (the default where the filesystem supports it)",
        };
        var jobs = Cli.JobsOption("Base backup parts fetched and decompressed at once, 1 to 64, e.g. --jobs 4 " +
                                  "(default: Engine:RestoreJobs, which defaults to 2)");
        var command = new Command("restore", "Restore a backup to a data directory, to a point in its recovery window")
        {
            config, backupId, to, time, lsn, xid, name, immediate, baseBackup, exclusive, force, verify, bufferedIo, jobs,
        };
        command.SetAction(async (result, ct) =>
        {
            var options = Cli.LoadOptions(result, config);
            var id = result.GetValue(backupId)!;
            RestoreTarget target = new RestoreTarget.Latest();
            var given = 0;
            if (result.GetValue(time) is { } t)
            {
                given++;
                target = new RestoreTarget.Time(t);
            }

            if (result.GetValue(lsn) is { } l)
            {
                given++;
                target = new RestoreTarget.Position(l);
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

            if (result.GetValue(immediate) is not null)
            {
                given++;
                target = new RestoreTarget.Immediate();
            }

            if (given > 1)
                throw new PgVaultException(ErrorCode.InvalidConfiguration, "give at most one restore target");

            using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
            var service = new RestoreService(options, new LocationStores(options).Get, PgVaultExecutable.Self(), Cli.ConfigFile(result, config),
                loggers.CreateLogger("pgvault"));
            var source = await service.FindAsync(id, ct).ConfigureAwait(false);
            var plan = await RestoreService.PlanAsync(source, target, inclusive: !result.GetValue(exclusive), ct, result.GetValue(baseBackup))
                .ConfigureAwait(false);
            var dir = result.GetValue(to)!.FullName;
            await Console.Out.WriteLineAsync($"restoring base backup {plan.BaseBackup.Label} of {id} into {dir}").ConfigureAwait(false);
            if (plan.ReachableEnd is { } reach)
            {
                await Console.Out.WriteLineAsync($"base backup {plan.BaseBackup.Label} is kept without the WAL after it: it reaches LSN " +
                                                 $"{plan.BaseBackup.Metadata!.EndLsn} (its consistency point) to {reach} only").ConfigureAwait(false);
            }

            var clock = System.Diagnostics.Stopwatch.StartNew();
            if (plan.Layers.Count > 1)
            {
                await Console.Out.WriteLineAsync(
                    $"base backup {plan.BaseBackup.Label} is {plan.BaseBackup.Metadata!.Type.ToString().ToLowerInvariant()}: applied over " +
                    string.Join(", ", plan.Layers.SkipLast(1).Select(l => l.Label))).ConfigureAwait(false);
            }

            var total = plan.Layers[0].Metadata!.DatabaseBytes + plan.Layers.Skip(1).Sum(l => l.Metadata!.Parts.Sum(p => p.SizeBytes));
            var bytes = await service.RestoreToAsync(source, plan, dir, result.GetValue(force), owner: null, new Progress(total), ct,
                directIo: !result.GetValue(bufferedIo), jobs: result.GetValue(jobs)).ConfigureAwait(false);
            await Console.Out.WriteLineAsync($"\nrestored {bytes / 1e6:0.0} MB in {clock.Elapsed.TotalSeconds:0.0} s " +
                                             $"({bytes / 1e6 / Math.Max(clock.Elapsed.TotalSeconds, 0.001):0.0} MB/s); recovery settings: " +
                                             string.Join(", ", plan.RecoverySettings.Select(kv => $"{kv.Key}={kv.Value}"))).ConfigureAwait(false);
            if (!result.GetValue(verify))
            {
                await Console.Out.WriteLineAsync("start PostgreSQL on it to replay the WAL and promote").ConfigureAwait(false);
                return 0;
            }

            await Console.Out.WriteLineAsync("--verify: starting PostgreSQL on the restored directory to replay the WAL ...").ConfigureAwait(false);
            var verified = await service.VerifyAsync(dir, plan.ReachableEnd ?? source.Chain.DurableEnd, new ReplayProgress(), ct).ConfigureAwait(false);
            var r = verified.Recovery;
            var replayed = r.LastTransaction is { } lt ? lt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) : "no transaction replayed";
            await Console.Out.WriteLineAsync($"\n--verify: recovery finished in {r.Duration.TotalSeconds:0.0} s: last transaction replayed {replayed}, " +
                                             $"promoted at {r.Lsn} on timeline {r.Timeline}").ConfigureAwait(false);
            if (!verified.Passed)
            {
                await Console.Error.WriteLineAsync($"--verify: {verified.Checker} reported problems: " + verified.AmcheckProblems).ConfigureAwait(false);
                return Cli.ExitFailure;
            }

            await Console.Out.WriteLineAsync($"--verify: {verified.Checker} found no corruption in {verified.Databases} database(s)").ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static T? Fail<T>(System.CommandLine.Parsing.ArgumentResult result, string message)
    {
        result.AddError(message);
        return default;
    }

    /// <summary>Whether a progress line is due (at most every few seconds); checked before the line is formatted.</summary>
    private static bool Due(ref DateTime last)
    {
        if (DateTime.UtcNow - last < TimeSpan.FromSeconds(Console.IsOutputRedirected ? 5 : 0.5))
            return false;
        last = DateTime.UtcNow;
        return true;
    }

    /// <summary>A line, or on a terminal a bar redrawn in place.</summary>
    private static void Show(string text)
    {
        if (Console.IsOutputRedirected)
            Console.Out.WriteLine(text);
        else
            Console.Out.Write("\r" + text + "   ");
    }

    private static string Bar(double fraction)
    {
        var filled = (int)Math.Round(Math.Clamp(fraction, 0, 1) * 30);
        return "[" + new string('#', filled) + new string('.', 30 - filled) + "]";
    }

    private sealed class ReplayProgress : IProgress<RecoveryProgress>
    {
        private DateTime _last = DateTime.MinValue;

        public void Report(RecoveryProgress value)
        {
            if (!Due(ref _last))
                return;
            var fraction = value.End.Value == 0 ? 0 : (double)value.Replayed.Value / value.End.Value;
            Show($"replay {Bar(fraction)} {value.Replayed} of {value.End}" +
                            (value.LastTransaction is { } t ? $", at {t.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z" : ""));
        }
    }

    private sealed class Progress(long total) : IProgress<long>
    {
        private DateTime _last = DateTime.MinValue;

        /// <remarks>Called for every read of the base backup: formats a line only when one is due.</remarks>
        public void Report(long value)
        {
            if (Due(ref _last))
                Show($"restore {Bar(total > 0 ? (double)value / total : 0)} {value / 1e6:0.0} / {total / 1e6:0.0} MB");
        }
    }
}

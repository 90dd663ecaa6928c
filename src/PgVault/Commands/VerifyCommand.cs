using System.CommandLine;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Hosting;

namespace PgVault.Commands;

/// <summary><c>pgvault verify [--backup-id ID]</c>: re-reads and checks every object of a backup (or all).</summary>
public static class VerifyCommand
{
    public static Command Create()
    {
        var config = Cli.ConfigOption();
        var backupId = new Option<string?>("--backup-id")
        {
            Description = "Verify only this backup, e.g. --backup-id 6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f (default: every backup)", HelpName = "ID",
        };
        var command = new Command("verify", "Check every object's checksum and the WAL's continuity; exit 1 on any problem") { config, backupId };
        command.SetAction(async (result, ct) =>
        {
            var options = Cli.LoadOptions(result, config);
            var stores = new LocationStores(options);
            var only = result.GetValue(backupId);
            var reports = 0;
            var failed = 0;
            foreach (var location in options.Locations.Keys)
            {
                var store = stores.Get(location);
                foreach (var chain in await RepositoryScanner.ScanAsync(store, null, ct).ConfigureAwait(false))
                {
                    var id = chain.Metadata?.BackupId ?? $"{chain.ClusterId}/{chain.ChainId}";
                    if (only is not null && !string.Equals(only, id, StringComparison.Ordinal))
                        continue;
                    reports++;
                    var report = await ChainVerifier.VerifyAsync(store, chain, null, ct).ConfigureAwait(false);
                    foreach (var f in report.Findings)
                        await Console.Out.WriteLineAsync($"{(f.IsProblem ? "ERROR" : "note ")} {id}: {f.Message}").ConfigureAwait(false);
                    await Console.Out.WriteLineAsync(
                        $"{(report.Ok ? "ok   " : "FAIL ")} {id}: {report.ObjectsChecked} objects, {report.BytesChecked / 1e6:0.0} MB checked, " +
                        $"WAL continuous to {chain.DurableEnd} in location '{location}'").ConfigureAwait(false);
                    if (!report.Ok)
                        failed++;
                }
            }

            if (only is not null && reports == 0)
            {
                await Console.Error.WriteLineAsync($"pgvault: backup '{only}' not found in any configured location").ConfigureAwait(false);
                return Cli.ExitFailure;
            }

            if (reports == 0)
                return await Cli.NoBackupFoundAsync(options).ConfigureAwait(false);

            await Console.Out.WriteLineAsync($"verify: {reports - failed} ok, {failed} with problems").ConfigureAwait(false);
            return failed == 0 ? 0 : Cli.ExitFailure;
        });
        return command;
    }
}

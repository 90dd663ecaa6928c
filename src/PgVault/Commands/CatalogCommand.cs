using System.CommandLine;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Hosting;
using PgVault.Storage;

namespace PgVault.Commands;

/// <summary><c>pgvault catalog migrate|rebuild</c>.</summary>
public static class CatalogCommand
{
    public static Command Create()
    {
        var config = Cli.ConfigOption();
        var migrate = new Command("migrate", "Create or upgrade the catalog's schema") { config };
        migrate.SetAction(async (result, ct) =>
        {
            var options = Cli.LoadOptions(result, config);
            var catalog = await OpenAsync(options, ct).ConfigureAwait(false);
            await Console.Out.WriteLineAsync($"catalog ({catalog.Provider}) is at the current schema").ConfigureAwait(false);
            await CloseAsync(catalog).ConfigureAwait(false);
            return 0;
        });

        var rebuildConfig = Cli.ConfigOption();
        var rebuild = new Command("rebuild", "Rebuild the catalog from the repositories of every configured location") { rebuildConfig };
        rebuild.SetAction(async (result, ct) =>
        {
            var options = Cli.LoadOptions(result, rebuildConfig);
            var catalog = await OpenAsync(options, ct).ConfigureAwait(false);
            var stores = new LocationStores(options);
            var locations = options.Locations.Keys.ToDictionary(k => k, stores.Get, StringComparer.Ordinal);
            var done = await CatalogRebuilder.RebuildAsync(catalog, locations, options, TimeProvider.System, ct).ConfigureAwait(false);
            await Console.Out.WriteLineAsync(
                $"catalog rebuilt from {locations.Count} location(s): {done.Backups} backup(s), {done.BaseBackups} base backup(s); " +
                $"{done.Removed} row(s) no longer in any repository removed").ConfigureAwait(false);
            await CloseAsync(catalog).ConfigureAwait(false);
            return 0;
        });
        return new Command("catalog", "Manage the catalog") { migrate, rebuild };
    }

    internal static async Task<ICatalog> OpenAsync(PgVaultOptions options, CancellationToken ct)
    {
        Directory.CreateDirectory(options.DataDirectoryFullPath);
        var catalog = CatalogFactory.Create(options);
        await catalog.MigrateAsync(ct).ConfigureAwait(false);
        foreach (var c in options.Clusters)
        {
            await catalog.UpsertClusterAsync(new ClusterRecord
            {
                Id = c.Id, DisplayName = c.DisplayName ?? c.Id, CreatedDate = DateTimeOffset.UtcNow, BackupLocation = c.BackupLocation,
            }, ct).ConfigureAwait(false);
        }

        return catalog;
    }

    internal static async Task CloseAsync(ICatalog catalog)
    {
        if (catalog is IAsyncDisposable d)
            await d.DisposeAsync().ConfigureAwait(false);
    }
}

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
            {
                // "0 ok" would read as success: a wrong location or an empty repository restores nothing.
                await Console.Error.WriteLineAsync(
                    $"pgvault: no backup found in the configured location(s) ({string.Join(", ", options.Locations.Keys)}): " +
                    "the repository is empty or not the one meant; check PgVault:Locations (or run 'pgvault check')").ConfigureAwait(false);
                return Cli.ExitFailure;
            }

            await Console.Out.WriteLineAsync($"verify: {reports - failed} ok, {failed} with problems").ConfigureAwait(false);
            return failed == 0 ? 0 : Cli.ExitFailure;
        });
        return command;
    }
}

using System.CommandLine;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Hosting;

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

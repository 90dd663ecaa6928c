using System.CommandLine;
using Microsoft.Extensions.Configuration;
using PgVault.Hosting;

namespace PgVault.Commands;

/// <summary><c>pgvault catalog migrate</c>: creates or upgrades the catalog schema without serving.</summary>
public static class CatalogCommand
{
    public static Command Create()
    {
        var config = Cli.ConfigOption();
        var migrate = new Command("migrate", "Create or upgrade the catalog's schema") { config };
        migrate.TreatUnmatchedTokensAsErrors = false;
        migrate.SetAction(async (result, ct) =>
        {
            var builder = new ConfigurationBuilder();
            if (Cli.ConfigFile(result, config) is { } file)
                builder.AddJsonFile(Path.GetFullPath(file), optional: false);
            builder.AddEnvironmentVariables().AddCommandLine([.. result.UnmatchedTokens]);
            var options = PgVaultApp.LoadOptions(builder.Build());
            Directory.CreateDirectory(options.DataDirectoryFullPath);
            var catalog = CatalogFactory.Create(options);
            await catalog.MigrateAsync(ct).ConfigureAwait(false);
            await Console.Out.WriteLineAsync($"catalog ({catalog.Provider}) is at the current schema").ConfigureAwait(false);
            if (catalog is IAsyncDisposable d)
                await d.DisposeAsync().ConfigureAwait(false);
            return 0;
        });
        return new Command("catalog", "Manage the catalog") { migrate };
    }
}

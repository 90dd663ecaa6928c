using System.CommandLine;
using PgVault.Hosting;

namespace PgVault.Commands;

/// <summary><c>pgvault serve</c>: hosts the API. <c>--set KEY=VALUE</c> (or <c>--PgVault:KEY=VALUE</c>) overrides configuration.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var config = Cli.ConfigOption();
        var urls = new Option<string>("--urls")
        {
            Description = "URLs to listen on, separated by ';', e.g. http://0.0.0.0:8080",
            HelpName = "URLS",
            DefaultValueFactory = _ => PgVaultApp.DefaultUrls,
        };
        var command = new Command("serve", "Serve the IONOS-compatible Backups API") { config, urls };
        command.SetAction(async (result, ct) =>
        {
            var app = PgVaultApp.Build(Cli.ConfigFile(result, config), Cli.OverrideArguments(result), result.GetValue(urls)!);
            // Disposed at the end: the console logger writes from a queue, which is flushed then (the lines of the stop).
            await using var disposeApp = app.ConfigureAwait(false);
            await PgVaultApp.InitializeAsync(app, Console.Out, ct).ConfigureAwait(false);
            await app.StartAsync(ct).ConfigureAwait(false);
            var json = string.Equals(app.Services.GetRequiredService<PgVault.Configuration.PgVaultOptions>().Logging.Format,
                PgVault.Configuration.LoggingOptions.Json, StringComparison.Ordinal);
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("PgVault.Serve");
            foreach (var url in app.Urls)
            {
                // With JSON logs every line of stdout is a JSON object, this one included.
                if (json)
                    logger.LogInformation("pgvault is serving the API at {Url} (and {IonosUrl})", url, url + PgVaultApp.IonosPrefix);
                else
                    await Console.Out.WriteLineAsync($"pgvault is serving the API at {url} (and {url}{PgVaultApp.IonosPrefix})").ConfigureAwait(false);
            }

            await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
            return 0;
        });
        return command;
    }
}

using System.CommandLine;
using PgVault.Hosting;

namespace PgVault.Commands;

/// <summary><c>pgvault serve</c>: hosts the API. Extra arguments such as <c>--PgVault:DataDirectory=/x</c> override configuration.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var config = Cli.ConfigOption();
        var urls = new Option<string>("--urls")
        {
            Description = "URLs to listen on, separated by ';'",
            DefaultValueFactory = _ => PgVaultApp.DefaultUrls,
        };
        var command = new Command("serve", "Serve the IONOS-compatible Backups API") { config, urls };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (result, ct) =>
        {
            var app = PgVaultApp.Build(Cli.ConfigFile(result, config), [.. result.UnmatchedTokens], result.GetValue(urls)!);
            await PgVaultApp.InitializeAsync(app, Console.Out, ct).ConfigureAwait(false);
            await app.StartAsync(ct).ConfigureAwait(false);
            foreach (var url in app.Urls)
                await Console.Out.WriteLineAsync($"pgvault is serving the API at {url} (and {url}{PgVaultApp.IonosPrefix})").ConfigureAwait(false);
            await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
            return 0;
        });
        return command;
    }
}

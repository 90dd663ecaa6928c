using System.CommandLine;
using PgVault.Engine.BaseBackup;
using PgVault.Errors;
using PgVault.Hosting;
using PgVault.Security;

namespace PgVault.Commands;

/// <summary>
/// <c>pgvault quickstart</c>: for a newcomer. Creates (or reuses) a throwaway PostgreSQL cluster in a directory, registers
/// it, serves the API with WAL streaming and a first base backup, and prints the URL and a fresh token. Ctrl+C stops
/// both the server and the cluster.
/// </summary>
public static class QuickstartCommand
{
    public static Command Create()
    {
        var directory = new Option<DirectoryInfo>("--directory")
        {
            Description = "Where the throwaway cluster and PgVault's data live",
            DefaultValueFactory = _ => new DirectoryInfo("pgvault-quickstart"),
        };
        var urls = new Option<string>("--urls") { Description = "URLs to listen on", DefaultValueFactory = _ => PgVaultApp.DefaultUrls };
        var command = new Command("quickstart", "Create a throwaway PostgreSQL cluster, back it up continuously, and serve the API") { directory, urls };
        command.SetAction(async (result, ct) =>
        {
            var root = result.GetValue(directory)!.FullName;
            var bin = PostgresTools.FindBinDirectory(null)
                      ?? throw new PgVaultException(ErrorCode.PostgresUnavailable, "PostgreSQL's programs (initdb, pg_ctl) were not found",
                          "install them, e.g. 'apt-get install postgresql-15'");
            var pg = new LocalPostgres(bin, Path.Combine(root, "postgres"));
            await Console.Out.WriteLineAsync($"Starting a throwaway PostgreSQL cluster in {pg.DataDirectory} ...").ConfigureAwait(false);
            await pg.StartAsync(ct).ConfigureAwait(false);
            try
            {
                await pg.InitSampleDataAsync(ct).ConfigureAwait(false);
                var idFile = Path.Combine(root, "cluster-id");
                if (!File.Exists(idFile))
                    await File.WriteAllTextAsync(idFile, Guid.NewGuid().ToString(), ct).ConfigureAwait(false);
                var clusterId = (await File.ReadAllTextAsync(idFile, ct).ConfigureAwait(false)).Trim();
                var token = TokenHasher.NewToken();
                var settings = new Dictionary<string, string?>(StringComparer.Ordinal)
                {
                    ["PgVault:DataDirectory"] = Path.Combine(root, "pgvault-data"),
                    ["PgVault:Clusters:0:Id"] = clusterId,
                    ["PgVault:Clusters:0:DisplayName"] = "quickstart",
                    ["PgVault:Clusters:0:ConnectionString"] = pg.ConnectionString,
                    ["PgVault:Tokens:0:Name"] = "quickstart",
                    ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(token),
                    ["PgVault:Tokens:0:Clusters:0"] = "*",
                };
                var app = PgVaultApp.Build(null, [], result.GetValue(urls)!, settings);
                await PgVaultApp.InitializeAsync(app, Console.Out, ct).ConfigureAwait(false);
                await app.StartAsync(ct).ConfigureAwait(false);
                var url = app.Urls.First();
                await Console.Out.WriteLineAsync($"""

                    PgVault is backing up cluster {clusterId} (PostgreSQL on 127.0.0.1:{pg.Port}).
                      API:    {url}/clusters/backups   (also under {url}{PgVaultApp.IonosPrefix})
                      Token:  {token}
                      Try:    curl -H "Authorization: Bearer {token}" {url}/clusters/backups
                    The first base backup runs now; within a minute the backup is AVAILABLE. Ctrl+C stops everything.
                    pgvault is serving the API at {url}
                    """).ConfigureAwait(false);
                await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
                await app.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                await Console.Out.WriteLineAsync("Stopping the throwaway PostgreSQL cluster ...").ConfigureAwait(false);
                await pg.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }

            return 0;
        });
        return command;
    }
}

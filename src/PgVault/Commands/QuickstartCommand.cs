using System.CommandLine;
using PgVault.Engine.Postgres;
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
            Description = "Where the throwaway cluster and PgVault's data live, e.g. /tmp/pgvault-quickstart",
            HelpName = "DIR",
            DefaultValueFactory = _ => new DirectoryInfo("pgvault-quickstart"),
        };
        var urls = new Option<string>("--urls") { Description = "URLs to listen on, e.g. http://127.0.0.1:8081", HelpName = "URLS", DefaultValueFactory = _ => PgVaultApp.DefaultUrls };
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
                // The configuration is a file, so the command lines printed below work against the same repository and catalog.
                var configFile = Path.Combine(root, "pgvault.json");
                if (LocalPostgres.IsRoot)
                    await StateDirectory.ShareWithGroupAsync(Path.Combine(root, "pgvault-data"), "postgres", ct).ConfigureAwait(false);
                await WriteConfigurationAsync(configFile, root, clusterId, pg.ConnectionString, TokenHasher.Hash(token), ct).ConfigureAwait(false);
                var app = PgVaultApp.Build(configFile, [], result.GetValue(urls)!);
                await PgVaultApp.InitializeAsync(app, Console.Out, ct).ConfigureAwait(false);
                await app.StartAsync(ct).ConfigureAwait(false);
                var url = app.Urls.First();
                var backupId = await ActiveBackupIdAsync(app.Services.GetRequiredService<PgVault.Catalog.ICatalog>(), clusterId, ct).ConfigureAwait(false);
                var pgvault = string.Join(' ', new[] { PgVaultExecutable.Self().Program }.Concat(PgVaultExecutable.Self().Prefix).Select(ShellWord));
                var config = "--config " + ShellWord(configFile);
                await Console.Out.WriteLineAsync($"""

                    PgVault is backing up cluster {clusterId} (PostgreSQL on 127.0.0.1:{pg.Port}).
                      API:    {url}/clusters/backups   (also under {url}{PgVaultApp.IonosPrefix})
                      Token:  {token}
                      Console: {url}/ui/   (sign in with the token)
                      Try:    curl -H "Authorization: Bearer {token}" {url}/clusters/backups
                    The first base backup runs now; within a minute the backup is AVAILABLE. Ctrl+C stops everything.
                    The command line reads the same configuration ({configFile}):
                      {pgvault} info {config}
                      {pgvault} check {config}
                      {pgvault} verify {config}
                      {pgvault} restore {config} --backup-id {backupId} --to {ShellWord(Path.Combine(root, "restore-check"))} --force --verify
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

    /// <summary>The quickstart's configuration, rewritten at each start (a new token each time; only its hash is kept), mode 0600.</summary>
    private static async Task WriteConfigurationAsync(string file, string root, string clusterId, string connectionString, string tokenHash,
        CancellationToken ct)
    {
        var config = new System.Text.Json.Nodes.JsonObject
        {
            ["PgVault"] = new System.Text.Json.Nodes.JsonObject
            {
                ["DataDirectory"] = Path.Combine(root, "pgvault-data"),
                // As root the throwaway cluster runs as the postgres OS user, whose restore_command reads the repository.
                ["GroupAccess"] = LocalPostgres.IsRoot,
                ["Clusters"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
                {
                    ["Id"] = clusterId,
                    ["DisplayName"] = "quickstart",
                    ["ConnectionString"] = connectionString,
                }),
                ["Tokens"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
                {
                    ["Name"] = "quickstart",
                    ["TokenHash"] = tokenHash,
                    ["Clusters"] = new System.Text.Json.Nodes.JsonArray("*"),
                }),
            },
        };
        var temp = file + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // it holds the cluster's connection string
        File.Delete(temp);
        await using (var stream = new FileStream(temp, options))
        {
            await System.Text.Json.JsonSerializer.SerializeAsync(stream, config, QuickstartJson.Default.JsonObject, ct).ConfigureAwait(false);
        }

        File.Move(temp, file, overwrite: true);
    }

    /// <summary>The id of the cluster's active backup once streaming has started it (bounded wait), for the printed restore line.</summary>
    private static async Task<string> ActiveBackupIdAsync(PgVault.Catalog.ICatalog catalog, string clusterId, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (await catalog.GetActiveBackupAsync(clusterId, ct).ConfigureAwait(false) is { } backup)
                return backup.Id;
            await Task.Delay(200, ct).ConfigureAwait(false);
        }

        return "ID"; // from GET /clusters/backups
    }

    /// <summary>A word for a POSIX shell: as it is when it holds only safe characters, else in single quotes.</summary>
    private static string ShellWord(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+:=@%,".Contains(c, StringComparison.Ordinal))
            ? word
            : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(System.Text.Json.Nodes.JsonObject))]
internal sealed partial class QuickstartJson : System.Text.Json.Serialization.JsonSerializerContext;

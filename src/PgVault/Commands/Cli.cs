using System.CommandLine;
using Microsoft.Extensions.Configuration;
using PgVault.Configuration;
using PgVault.Errors;
using PgVault.Hosting;

namespace PgVault.Commands;

/// <summary>The <c>pgvault</c> command line. Each command lives in its own file; this is the one place that catches.</summary>
public static class Cli
{
    /// <summary>Exit status of a command that failed with a known error.</summary>
    public const int ExitFailure = 1;

    /// <summary>Exit status for bad usage or configuration.</summary>
    public const int ExitConfiguration = 2;

    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("pgvault: continuous PostgreSQL backups behind the IONOS DBaaS PostgreSQL API");
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(HashPasswordCommand.Create());
        root.Subcommands.Add(TokenCommand.Create());
        root.Subcommands.Add(CatalogCommand.Create());
        root.Subcommands.Add(BackupCommand.Create());
        root.Subcommands.Add(VerifyCommand.Create());
        root.Subcommands.Add(ExpireCommand.Create());
        root.Subcommands.Add(QuickstartCommand.Create());
        root.Subcommands.Add(RestoreCommand.Create());
        root.Subcommands.Add(WalFetchCommand.Create());
        try
        {
            return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }).ConfigureAwait(false);
        }
        catch (PgVaultException ex)
        {
            await Console.Error.WriteLineAsync("pgvault: " + ex.Describe()).ConfigureAwait(false);
            return ex.Code == ErrorCode.InvalidConfiguration ? ExitConfiguration : ExitFailure;
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("pgvault: cancelled").ConfigureAwait(false);
            return ExitFailure;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or FormatException
                                       or Npgsql.NpgsqlException or InvalidOperationException)
        {
            // The CLI's boundary: say what failed in one line; the details go to stderr for a bug report.
            await Console.Error.WriteLineAsync($"pgvault: {ex.GetType().Name}: {ex.Message}\n{ex}").ConfigureAwait(false);
            return ExitFailure;
        }
    }

    /// <summary>The options every command that reads configuration shares.</summary>
    public static Option<FileInfo?> ConfigOption() => new("--config")
    {
        Description = "JSON configuration file (default: $PGVAULT_CONFIG, else none)",
    };

    /// <summary>The validated options of a command that does not serve: config file, environment, then extra arguments.</summary>
    public static PgVaultOptions LoadOptions(ParseResult result, Option<FileInfo?> option)
    {
        ArgumentNullException.ThrowIfNull(result);
        var builder = new ConfigurationBuilder();
        if (ConfigFile(result, option) is { } file)
        {
            var full = Path.GetFullPath(file);
            if (!File.Exists(full))
                throw new PgVaultException(ErrorCode.InvalidConfiguration, $"configuration file '{full}' does not exist");
            builder.AddJsonFile(full, optional: false);
        }

        builder.AddEnvironmentVariables().AddCommandLine([.. result.UnmatchedTokens]);
        return PgVaultApp.LoadOptions(builder.Build());
    }

    public static string? ConfigFile(ParseResult result, Option<FileInfo?> option)
    {
        ArgumentNullException.ThrowIfNull(result);
        var file = result.GetValue(option)?.FullName;
        if (file is null)
        {
            var env = Environment.GetEnvironmentVariable("PGVAULT_CONFIG");
            file = string.IsNullOrWhiteSpace(env) ? null : env;
        }

        return file;
    }
}

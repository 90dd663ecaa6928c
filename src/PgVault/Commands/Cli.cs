using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using PgVault.Configuration;
using PgVault.Engine.Restore;
using PgVault.Errors;
using PgVault.Hosting;
using PgVault.Text;

namespace PgVault.Commands;

/// <summary>The <c>pgvault</c> command line. Each command lives in its own file; this is the one place that catches.</summary>
public static partial class Cli
{
    /// <summary>Exit status of a command that failed with a known error.</summary>
    public const int ExitFailure = 1;

    /// <summary>Exit status for bad usage or configuration.</summary>
    public const int ExitConfiguration = 2;

    /// <summary>The prefix of the configuration override tokens (<c>--PgVault:Engine:CompressionLevel=3</c>).</summary>
    private const string OverridePrefix = "--" + PgVaultOptions.SectionName + ":";

    /// <summary>
    /// <c>--set KEY=VALUE</c>: the one way configuration is overridden on the command line (a token
    /// <c>--PgVault:KEY=VALUE</c> is the same). Recursive, so every command accepts it; one that reads no configuration refuses it.
    /// </summary>
    public static Option<string[]> SetOption { get; } = new("--set")
    {
        Description = "Override a configuration key, e.g. --set Engine:CompressionLevel=3 (also written " +
                      "--PgVault:Engine:CompressionLevel=3); repeat for several. Applied after the file and the environment",
        HelpName = "KEY=VALUE",
        Recursive = true,
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
        CustomParser = ParseOverrides,
    };

    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var parsed = CreateRoot().Parse(TranslateOverrides(args));
        if (UsageErrors(parsed) is { Count: > 0 } errors)
        {
            foreach (var error in errors)
                await Console.Error.WriteLineAsync("pgvault: " + error).ConfigureAwait(false);
            var path = CommandPath(parsed.CommandResult);
            await Console.Error.WriteLineAsync($"run '{path} --help' for usage").ConfigureAwait(false);
            // PostgreSQL reads exit 1 and 2 of a restore_command as "no such file" and would end recovery early.
            return parsed.CommandResult.Command.Name == "wal-fetch" ? WalFetcher.Fatal : ExitConfiguration;
        }

        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }).ConfigureAwait(false);
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

    /// <summary>The root command with every command.</summary>
    internal static RootCommand CreateRoot()
    {
        var root = new RootCommand("pgvault: continuous PostgreSQL backups behind the IONOS DBaaS PostgreSQL API");
        root.Options.Add(SetOption);
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(HashPasswordCommand.Create());
        root.Subcommands.Add(TokenCommand.Create());
        root.Subcommands.Add(CatalogCommand.Create());
        root.Subcommands.Add(BackupCommand.Create());
        root.Subcommands.Add(VerifyCommand.Create());
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(AnnotateCommand.Create());
        root.Subcommands.Add(CheckCommand.Create());
        root.Subcommands.Add(ExpireCommand.Create());
        root.Subcommands.Add(QuickstartCommand.Create());
        root.Subcommands.Add(RestoreCommand.Create());
        root.Subcommands.Add(WalFetchCommand.Create());
        return root;
    }

    /// <summary>
    /// Every reason the command line is unusable, one line each, or none: unknown options and arguments (with the nearest
    /// valid name), bad values, missing required options, overrides given to a command that reads no configuration.
    /// Help (<c>--help</c>) is never an error.
    /// </summary>
    internal static List<string> UsageErrors(ParseResult parsed)
    {
        var errors = new List<string>();
        if (parsed.Action is HelpAction)
            return errors;
        var command = parsed.CommandResult.Command;
        var path = CommandPath(parsed.CommandResult);
        var unmatched = parsed.UnmatchedTokens.ToHashSet(StringComparer.Ordinal);
        string? previous = null;
        foreach (var token in parsed.UnmatchedTokens)
        {
            // "--target-tme 2026-12-01T10:00:00Z": the value belongs to the unknown option; one line for both.
            if (!(previous is not null && previous.StartsWith('-') && !previous.Contains('=', StringComparison.Ordinal) && !token.StartsWith('-')))
                errors.Add(Unknown(token, parsed.CommandResult, path));
            previous = token;
        }

        var unknownCommand = errors.Count > 0 && command.Subcommands.Count > 0;
        foreach (var error in parsed.Errors)
        {
            // The parser's own line for an unmatched token is replaced by the one above.
            if (unmatched.Any(t => error.Message.Contains($"'{t}'", StringComparison.Ordinal)))
                continue;
            if (error.Message.StartsWith("Required command was not provided", StringComparison.Ordinal))
            {
                if (unknownCommand)
                    continue;
                errors.Add($"'{path}' needs a command: {string.Join(", ", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}");
                continue;
            }

            errors.Add(error.Message);
        }

        if (errors.Count == 0 && parsed.GetValue(SetOption) is { Length: > 0 } && !ReadsConfiguration(command))
            errors.Add($"'{path}' reads no configuration: remove the --set / {OverridePrefix}… overrides");
        return errors;
    }

    private static string Unknown(string token, CommandResult where, string path)
    {
        var command = where.Command;
        if (token.StartsWith('-'))
        {
            var names = AllOptions(where).Where(o => !o.Hidden).SelectMany(o => o.Aliases.Prepend(o.Name)).ToList();
            var name = token.Split('=', 2)[0];
            var near = Suggestions.Closest(name, names);
            return $"unknown option '{name}' for '{path}'" + (near is null ? "" : $"; did you mean '{near}'?");
        }

        var sub = Suggestions.Closest(token, command.Subcommands.Select(c => c.Name));
        if (command.Subcommands.Count > 0)
        {
            return $"unknown command '{token}' for '{path}'" + (sub is null
                ? $"; the commands are: {string.Join(", ", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}"
                : $"; did you mean '{sub}'?");
        }

        return $"unexpected argument '{token}' for '{path}'";
    }

    private static IEnumerable<Option> AllOptions(CommandResult where)
    {
        foreach (var o in where.Command.Options)
            yield return o;
        for (var parent = where.Parent as CommandResult; parent is not null; parent = parent.Parent as CommandResult)
        {
            foreach (var o in parent.Command.Options.Where(o => o.Recursive))
                yield return o;
        }
    }

    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c; r = c.Parent)
            names.Add(c.Parent is null ? "pgvault" : c.Command.Name);
        names.Reverse();
        return string.Join(' ', names);
    }

    private static bool ReadsConfiguration(Command command) => command.Options.Any(o => o.Name == "--config");

    /// <summary>
    /// <c>--PgVault:KEY=VALUE</c> (and <c>--PgVault:KEY VALUE</c>) become <c>--set PgVault:KEY=VALUE</c>; nothing after a
    /// <c>--</c> is touched.
    /// </summary>
    internal static string[] TranslateOverrides(string[] args)
    {
        var result = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "--")
            {
                result.AddRange(args[i..]);
                break;
            }

            if (a.StartsWith(OverridePrefix, StringComparison.OrdinalIgnoreCase) && a.Length > OverridePrefix.Length)
            {
                result.Add(SetOption.Name);
                if (a.Contains('=', StringComparison.Ordinal) || i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                    result.Add(a[2..]);
                else
                    result.Add(a[2..] + "=" + args[++i]);
                continue;
            }

            result.Add(a);
        }

        return [.. result];
    }

    private static string[] ParseOverrides(ArgumentResult result)
    {
        var values = new List<string>();
        foreach (var token in result.Tokens)
        {
            var eq = token.Value.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                result.AddError($"configuration override '{token.Value}' is not KEY=VALUE (example: --set Engine:CompressionLevel=3)");
                continue;
            }

            values.Add(token.Value);
        }

        return [.. values];
    }

    /// <summary>The overrides as configuration keys (<c>PgVault:</c> added where missing) and values, in the order given.</summary>
    private static IEnumerable<KeyValuePair<string, string?>> Overrides(ParseResult result)
    {
        foreach (var o in result.GetValue(SetOption) ?? [])
        {
            var eq = o.IndexOf('=', StringComparison.Ordinal);
            var key = o[..eq].Trim();
            if (!key.StartsWith(PgVaultOptions.SectionName + ":", StringComparison.OrdinalIgnoreCase))
                key = PgVaultOptions.SectionName + ":" + key;
            yield return new(key, o[(eq + 1)..]);
        }
    }

    /// <summary>The overrides in the <c>--KEY=VALUE</c> form <c>serve</c>'s configuration builder takes.</summary>
    public static string[] OverrideArguments(ParseResult result) =>
        [.. Overrides(result).Select(kv => $"--{kv.Key}={kv.Value}")];

    /// <summary>The options every command that reads configuration shares.</summary>
    public static Option<FileInfo?> ConfigOption() => new("--config")
    {
        Description = "JSON configuration file (default: $PGVAULT_CONFIG, else none)",
        HelpName = "FILE",
    };

    /// <summary><c>--output text|json</c> (default text), each form described for the command at hand.</summary>
    public static Option<string> OutputOption(string text, string json)
    {
        var output = new Option<string>("--output")
        {
            Description = $"text: {text}; json: {json} (docs/OPERATIONS.md shows its shape), e.g. --output json",
            HelpName = "text|json",
            DefaultValueFactory = _ => "text",
        };
        output.AcceptOnlyFromAmong("text", "json");
        return output;
    }

    /// <summary>
    /// Says that no backup (<paramref name="what"/>) is in the configured locations, with what to check, and returns the
    /// failure exit status: "0 ok" or an empty list would read as success, and a wrong location restores nothing.
    /// </summary>
    public static async Task<int> NoBackupFoundAsync(PgVaultOptions options, string what = "backup")
    {
        await Console.Error.WriteLineAsync(
            $"pgvault: no {what} found in the configured location(s) ({string.Join(", ", options.Locations.Keys)}): " +
            "the repository is empty or not the one meant; check PgVault:Locations (or run 'pgvault check')").ConfigureAwait(false);
        return ExitFailure;
    }

    /// <summary>The validated options of a command that does not serve: config file, environment, then <c>--set</c> overrides.</summary>
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

        builder.AddEnvironmentVariables().AddInMemoryCollection(Overrides(result));
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

    /// <summary>
    /// A point in time as the restore options take it: ISO 8601 with a UTC offset or <c>Z</c>
    /// (<c>2026-12-01T10:00:00Z</c>, <c>2026-12-01 11:00:00.5+01:00</c>); a time without an offset is ambiguous and refused.
    /// </summary>
    public static bool TryParseTime(string text, out DateTimeOffset value)
    {
        ArgumentNullException.ThrowIfNull(text);
        value = default;
        return TimeFormat().IsMatch(text)
               && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out value);
    }

    /// <summary>An option's one-line error when its value is not a time <see cref="TryParseTime"/> accepts.</summary>
    public static DateTimeOffset? ParseTimeOption(ArgumentResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (TryParseTime(text, out var value))
            return value;
        result.AddError($"{OptionName(result)} '{text}' is not a time: give ISO 8601 with an offset or Z, e.g. 2026-12-01T10:00:00Z");
        return null;
    }

    /// <summary>
    /// <c>--jobs N</c> (1 to 64; <paramref name="description"/> says what runs in parallel and which configuration key is
    /// the default). Not given, the value is null and the configuration's default applies.
    /// </summary>
    public static Option<int?> JobsOption(string description) => new("--jobs")
    {
        Description = description,
        HelpName = "N",
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 64)
                return n;
            r.AddError($"--jobs '{text}' is not a number from 1 to 64, e.g. --jobs 4");
            return null;
        },
    };

    private static string OptionName(ArgumentResult result) => result.Parent is OptionResult o ? o.Option.Name : result.Argument.Name;

    [System.Text.RegularExpressions.GeneratedRegex(
        @"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|z|[+-]\d{2}(:?\d{2})?)$", System.Text.RegularExpressions.RegexOptions.CultureInvariant | System.Text.RegularExpressions.RegexOptions.ExplicitCapture)]
    private static partial System.Text.RegularExpressions.Regex TimeFormat();
}

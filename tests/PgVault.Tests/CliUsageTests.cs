using System.Diagnostics;
using PgVault.Commands;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>
/// The command line is strict: an unknown option, argument, command or configuration key is refused (exit 2) with one
/// line naming it and, where one is close, the valid name — never silently ignored. Run as the real process.
/// </summary>
public sealed class CliUsageTests
{
    private static readonly string Program = Path.Combine(AppContext.BaseDirectory, "pgvault.dll");

    /// <summary>Every command with the arguments it needs to get past its required options.</summary>
    public static TheoryData<string[]> EveryCommand => new()
    {
        new[] { "serve" },
        new[] { "hash-password" },
        new[] { "token", "create" },
        new[] { "catalog", "migrate" },
        new[] { "catalog", "rebuild" },
        new[] { "backup", "--cluster", "6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f" },
        new[] { "verify" },
        new[] { "info" },
        new[] { "annotate", "--backup-id", "b", "--label", "l" },
        new[] { "check" },
        new[] { "expire" },
        new[] { "quickstart" },
        new[] { "restore", "--backup-id", "b", "--to", "/nonexistent/pgvault-cli-test" },
        new[] { "wal-fetch", "--backup-id", "b", "000000010000000000000001", "/nonexistent/x" },
    };

    [Fact]
    public void The_unknown_option_cases_cover_every_command()
    {
        static IEnumerable<string> Leaves(System.CommandLine.Command c, string path) =>
            c.Subcommands.Count == 0 ? [path] : c.Subcommands.SelectMany(s => Leaves(s, (path + " " + s.Name).Trim()));
        var covered = EveryCommand.Select(row => string.Join(' ', row.Data.TakeWhile(a => !a.StartsWith('-'))))
            .Select(p => p.Replace(" 000000010000000000000001 /nonexistent/x", "", StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(Leaves(Cli.CreateRoot(), "").Order(StringComparer.Ordinal), covered.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(EveryCommand))]
    public async Task Every_command_refuses_an_unknown_option(string[] command)
    {
        using var dir = new TempDirectory("cli-unknown");
        var (code, stdout, stderr) = await RunAsync(dir.Path, [.. command, "--bogus-option"]);
        // wal-fetch is PostgreSQL's restore_command: 1 and 2 would read as "no such file" and end recovery early.
        Assert.Equal(command[0] == "wal-fetch" ? 126 : 2, code);
        Assert.Contains($"unknown option '--bogus-option' for 'pgvault {string.Join(' ', command.TakeWhile(a => !a.StartsWith('-')))
            .Replace(" 000000010000000000000001 /nonexistent/x", "", StringComparison.Ordinal)}'", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.Empty(stdout);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path)); // nothing started, nothing written
    }

    [Fact]
    public async Task A_mistyped_restore_target_is_refused_with_the_right_name_and_nothing_is_restored()
    {
        using var dir = new TempDirectory("cli-typo");
        var target = Path.Combine(dir.Path, "restored");
        var (code, _, stderr) = await RunAsync(dir.Path,
            ["restore", "--backup-id", "b", "--to", target, "--target-tme", "2026-12-01T10:00:00Z"]);
        Assert.Equal(2, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("pgvault: unknown option '--target-tme' for 'pgvault restore'; did you mean '--target-time'?", lines[0]);
        Assert.Equal("run 'pgvault restore --help' for usage", lines[^1]);
        Assert.False(Directory.Exists(target));
    }

    [Theory]
    [InlineData("--target-time", "yesterday", "--target-time 'yesterday' is not a time: give ISO 8601 with an offset or Z, e.g. 2026-12-01T10:00:00Z")]
    [InlineData("--target-time", "2026-12-01T10:00:00", "--target-time '2026-12-01T10:00:00' is not a time")] // no offset: ambiguous
    [InlineData("--target-lsn", "16-B374D848", "--target-lsn '16-B374D848' is not a WAL position: give e.g. 0/3000060")]
    [InlineData("--target-xid", "-5", "--target-xid '-5' is not a transaction id")]
    [InlineData("--target", "immedate", "immedate")]
    public async Task A_bad_option_value_is_one_line_and_exit_2(string option, string value, string expected)
    {
        using var dir = new TempDirectory("cli-value");
        var (code, _, stderr) = await RunAsync(dir.Path, ["restore", "--backup-id", "b", "--to", Path.Combine(dir.Path, "r"), option, value]);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("restore", "0")]
    [InlineData("restore", "x")]
    [InlineData("restore", "65")]
    [InlineData("backup", "0")]
    [InlineData("backup", "-1")]
    public async Task Jobs_outside_1_to_64_is_refused_with_exit_2(string command, string value)
    {
        using var dir = new TempDirectory("cli-jobs");
        string[] args = command == "restore"
            ? ["restore", "--backup-id", "b", "--to", Path.Combine(dir.Path, "r"), "--jobs", value]
            : ["backup", "--cluster", "6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f", "--jobs", value];
        var (code, stdout, stderr) = await RunAsync(dir.Path, args);
        Assert.Equal(2, code);
        Assert.Contains($"--jobs '{value}' is not a number from 1 to 64, e.g. --jobs 4", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.Empty(stdout);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }

    [Theory]
    [InlineData(new string[0], "pgvault: 'pgvault' needs a command: serve, hash-password")]
    [InlineData(new[] { "resore" }, "pgvault: unknown command 'resore' for 'pgvault'; did you mean 'restore'?")]
    [InlineData(new[] { "catalog", "rebiuld" }, "pgvault: unknown command 'rebiuld' for 'pgvault catalog'; did you mean 'rebuild'?")]
    [InlineData(new[] { "hash-password", "--PgVault:DataDirectory=/x" }, "'pgvault hash-password' reads no configuration")]
    [InlineData(new[] { "verify", "--set", "DataDirectory" }, "configuration override 'DataDirectory' is not KEY=VALUE")]
    [InlineData(new[] { "info", "--cluster", "../x" }, "--cluster '../x' is not a cluster id")]
    [InlineData(new[] { "info", "--output", "yaml" }, "yaml")]
    [InlineData(new[] { "annotate", "--backup-id", "b", "--label", "l", "--keep", "--no-keep" }, "--keep and --no-keep exclude each other")]
    [InlineData(new[] { "annotate", "--backup-id", "b", "--label", "l", "ticket" }, "annotation 'ticket' is not key=value")]
    [InlineData(new[] { "annotate", "--backup-id", "b", "--label", "l", "--kep" }, "unknown option '--kep' for 'pgvault annotate'; did you mean '--keep'?")]
    [InlineData(new[] { "annotate", "--label", "l" }, "--backup-id")]
    public async Task Bad_usage_exits_2_with_one_line_per_problem(string[] args, string expected)
    {
        using var dir = new TempDirectory("cli-usage");
        var (code, _, stderr) = await RunAsync(dir.Path, args);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--PgVault:Engine:CompresionLevel=3", "unknown configuration key 'PgVault:Engine:CompresionLevel'; did you mean 'PgVault:Engine:CompressionLevel'?")]
    [InlineData("--set=Engine:CompresionLevel=3", "unknown configuration key 'PgVault:Engine:CompresionLevel'; did you mean 'PgVault:Engine:CompressionLevel'?")]
    [InlineData("--PgVault:Locations:local:Pth=/x", "unknown configuration key 'PgVault:Locations:local:Pth'; did you mean 'PgVault:Locations:local:Path'?")]
    [InlineData("--PgVault:Clusters:first:Id=x", "'PgVault:Clusters' is a list; its entries are numbered")]
    [InlineData("--PgVault:DataDirectory:x=1", "'PgVault:DataDirectory' is a value, not a section")]
    public async Task An_override_of_an_unknown_key_fails_like_an_unknown_key_in_the_file(string token, string expected)
    {
        using var dir = new TempDirectory("cli-key");
        var (code, _, stderr) = await RunAsync(dir.Path, ["verify", token]);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);

        var file = Path.Combine(dir.Path, "pgvault.json");
        await File.WriteAllTextAsync(file, """{ "PgVault": { "Engine": { "CompresionLevel": 3 } } }""", TestContext.Current.CancellationToken);
        (code, _, stderr) = await RunAsync(dir.Path, ["verify", "--config", file]);
        Assert.Equal(2, code);
        Assert.Contains("unknown configuration key 'PgVault:Engine:CompresionLevel'; did you mean 'PgVault:Engine:CompressionLevel'?", stderr,
            StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--set", "DataDirectory=DIR")]
    [InlineData("--set", "PgVault:DataDirectory=DIR")]
    [InlineData("--PgVault:DataDirectory=DIR", null)]
    [InlineData("--PgVault:DataDirectory", "DIR")]
    public async Task Overrides_in_each_documented_form_are_applied(string first, string? second)
    {
        using var dir = new TempDirectory("cli-set");
        var data = Path.Combine(dir.Path, "state");
        string[] args = second is null ? ["catalog", "migrate", first.Replace("DIR", data, StringComparison.Ordinal)]
            : ["catalog", "migrate", first, second.Replace("DIR", data, StringComparison.Ordinal)];
        var (code, stdout, stderr) = await RunAsync(dir.Path, args);
        Assert.True(code == 0, stdout + stderr);
        Assert.True(File.Exists(Path.Combine(data, "catalog.db")));
    }

    [Fact]
    public async Task Info_on_an_empty_repository_says_no_backup_found_and_exits_1()
    {
        using var dir = new TempDirectory("cli-info-empty");
        var (code, stdout, stderr) = await RunAsync(dir.Path, ["info", "--set", "DataDirectory=" + Path.Combine(dir.Path, "state"), "--output", "json"]);
        Assert.True(code == 1, stdout + stderr);
        Assert.Contains("no backup found in the configured location(s) (local)", stderr, StringComparison.Ordinal);
        Assert.Empty(stdout);
    }

    [Fact]
    public async Task Help_shows_no_catch_all_arguments_and_exits_0()
    {
        using var dir = new TempDirectory("cli-help");
        var (code, stdout, _) = await RunAsync(dir.Path, ["restore", "--help"]);
        Assert.Equal(0, code);
        Assert.Contains("pgvault restore [options]", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("additional arguments", stdout, StringComparison.Ordinal);
        Assert.Contains("--target-time <TIME>", stdout, StringComparison.Ordinal);
        Assert.Contains("--set <KEY=VALUE>", stdout, StringComparison.Ordinal);
        Assert.Contains("--jobs <N>", stdout, StringComparison.Ordinal);
        Assert.Contains("default: Engine:RestoreJobs, which defaults to 2", stdout, StringComparison.Ordinal);
        Assert.Contains("e.g. 2026-12-01T10:00:00Z", stdout, StringComparison.Ordinal);
    }

    /// <summary>Every option of every command says what it does; one that takes a value names it and shows an example.</summary>
    [Fact]
    public void Every_option_has_a_description_and_every_value_an_example()
    {
        static IEnumerable<System.CommandLine.Command> All(System.CommandLine.Command c) => c.Subcommands.SelectMany(All).Prepend(c);
        var missing = new List<string>();
        foreach (var command in All(Cli.CreateRoot()))
        {
            foreach (var option in command.Options.Where(o => !o.Hidden && o.Name is not ("--help" or "--version")))
            {
                var where = $"{command.Name} {option.Name}";
                if (string.IsNullOrWhiteSpace(option.Description))
                    missing.Add(where + ": no description");
                else if (option.ValueType != typeof(bool) && option.Arity.MaximumNumberOfValues > 0 && string.IsNullOrEmpty(option.HelpName))
                    missing.Add(where + ": no value name");
                else if (option.ValueType != typeof(bool) && option.Arity.MaximumNumberOfValues > 0 && option.Name != "--config"
                         && !option.Description.Contains("e.g.", StringComparison.Ordinal) && !option.Description.Contains(" or ", StringComparison.Ordinal))
                    missing.Add(where + ": no example (e.g. …) or choices (a or b)");
            }
        }

        Assert.Empty(missing);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string workingDirectory, string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        psi.ArgumentList.Add(Program);
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.Environment.Remove("PGVAULT_CONFIG");
        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}

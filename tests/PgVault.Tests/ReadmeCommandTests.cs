using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit;

namespace PgVault.Tests;

/// <summary>
/// The README's commands, so it cannot drift from the program: every command line in its <c>sh</c> blocks is either run
/// exactly as written (from the repository root, as the README says) or named below with why it cannot run in a test
/// (it serves until stopped, or runs the whole suite); and every row of its command table is checked against the
/// program's own <c>--help</c>, run as a process: the command exists and knows every option the row shows.
/// </summary>
public sealed partial class ReadmeCommandTests
{
    private static readonly string Program = Path.Combine(AppContext.BaseDirectory, "pgvault.dll");

    /// <summary>README commands not run here, with the reason. Any other command line in an <c>sh</c> block is run.</summary>
    private static readonly Dictionary<string, string> NotRun = new(StringComparer.Ordinal)
    {
        ["dotnet run --project src/PgVault -- quickstart"] = "serves until Ctrl+C (QuickstartTests runs it and the lines it prints)",
        ["./test.sh"] = "runs every test suite, this one included",
    };

    /// <summary>The README's publish line, run here as written (a Release build into /opt/pgvault).</summary>
    private const string Publish = "dotnet publish src/PgVault -c Release -r linux-x64 --self-contained false -o /opt/pgvault";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PgVault.slnx")))
                return dir.FullName;
        }

        throw new InvalidOperationException("PgVault.slnx not found above " + AppContext.BaseDirectory);
    }

    private static string[] Readme() => File.ReadAllLines(Path.Combine(RepositoryRoot(), "README.md"));

    /// <summary>Each command line of the README's <c>sh</c> blocks, its trailing <c># comment</c> removed.</summary>
    public static IReadOnlyList<string> ShellCommands()
    {
        var commands = new List<string>();
        var inSh = false;
        foreach (var raw in Readme())
        {
            var line = raw.Trim();
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                inSh = !inSh && line == "```sh";
                continue;
            }

            if (inSh && line.Length > 0)
                commands.Add(Regex.Replace(line, @"\s+#.*$", "", RegexOptions.None, TimeSpan.FromSeconds(1)).Trim());
        }

        return commands;
    }

    /// <summary>The README's command table: each row's command path and the options its syntax shows.</summary>
    public static IReadOnlyList<(string Command, IReadOnlyList<string> Options)> TableRows()
    {
        var rows = new List<(string, IReadOnlyList<string>)>();
        foreach (var line in Readme())
        {
            var match = TableRow().Match(line);
            if (!match.Success)
                continue;
            var syntax = match.Groups["syntax"].Value;
            var words = syntax.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var command = string.Join(' ', words.Skip(1).TakeWhile(w => Regex.IsMatch(w, "^[a-z][a-z-]*$", RegexOptions.None, TimeSpan.FromSeconds(1))));
            var options = OptionName().Matches(syntax).Select(m => m.Value).Distinct(StringComparer.Ordinal).ToList();
            rows.Add((command, options));
        }

        return rows;
    }

    [Fact]
    public void Every_shell_command_of_the_README_is_run_here_or_named_with_why_not()
    {
        var commands = ShellCommands();
        Assert.NotEmpty(commands);
        // A command the list names must still be in the README: a stale entry hides nothing.
        Assert.All(NotRun.Keys, k => Assert.Contains(k, commands));
        Assert.All(commands.Where(c => !NotRun.ContainsKey(c) && c != Publish),
            c => Assert.Fail($"README command '{c}' is neither run by this test nor named in NotRun"));
    }

    [Fact]
    public async Task Every_command_in_the_README_table_exists_and_knows_every_option_the_README_shows()
    {
        var rows = TableRows();
        Assert.True(rows.Count >= 10, $"only {rows.Count} rows of the command table found");
        var root = await RunAsync(["--help"]);
        Assert.Equal(0, root.Code);
        foreach (var (command, options) in rows)
        {
            var (code, stdout, stderr) = await RunAsync([.. command.Split(' '), "--help"]);
            Assert.True(code == 0, $"pgvault {command} --help exited {code}: {stderr}");
            foreach (var option in options)
                Assert.True(stdout.Contains(option, StringComparison.Ordinal), $"README shows '{option}' for 'pgvault {command}', its --help does not:\n{stdout}");
        }

        // And the other way round: every command of the program has its row.
        var documented = rows.Select(r => r.Command).ToHashSet(StringComparer.Ordinal);
        foreach (var leaf in Leaves(PgVault.Commands.Cli.CreateRoot(), ""))
            Assert.True(documented.Contains(leaf), $"'pgvault {leaf}' has no row in the README's command table");
    }

    [Fact]
    public async Task The_README_publish_command_builds_a_pgvault_that_runs()
    {
        Assert.Contains(Publish, ShellCommands());
        var (code, output) = await ShellAsync(Publish, TimeSpan.FromMinutes(20));
        Assert.True(code == 0, output);
        using var process = Process.Start(new ProcessStartInfo("/opt/pgvault/pgvault", "--help") { RedirectStandardOutput = true, UseShellExecute = false })!;
        var help = await process.StandardOutput.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        Assert.Equal(0, process.ExitCode);
        Assert.Contains("annotate", help, StringComparison.Ordinal);
    }

    private static IEnumerable<string> Leaves(System.CommandLine.Command c, string path) =>
        c.Subcommands.Count == 0 ? [path] : c.Subcommands.SelectMany(s => Leaves(s, (path + " " + s.Name).Trim()));

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Program);
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static async Task<(int Code, string Output)> ShellAsync(string command, TimeSpan limit)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = RepositoryRoot() };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException ex) when (!Ct.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            var load = (await File.ReadAllTextAsync("/proc/loadavg", Ct)).Trim();
            throw new TimeoutException($"`{command}` did not finish within {limit} (load average: {load})", ex);
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    [GeneratedRegex(@"^\|\s*`(?<syntax>pgvault [^`]*)`\s*\|", RegexOptions.None, 1000)]
    private static partial Regex TableRow();

    [GeneratedRegex(@"--[a-z][a-z-]*", RegexOptions.None, 1000)]
    private static partial Regex OptionName();
}

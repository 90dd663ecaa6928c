using System.Diagnostics;
using System.Text;
using PgVault.Engine.Restore;
using PgVault.Errors;
using PgVault.Hosting;
using PgVault.Testing;
using PgVault.Text;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// <c>restore_command</c> and the in-place restore's <c>pg_ctl -o</c> options pass hostile paths to <c>/bin/sh</c> as
/// exactly the words they are: each command is run through the real shell (after PostgreSQL's <c>%</c> expansion) and
/// the program's argv is compared.
/// </summary>
[Trait("Category", "Security")]
public sealed class RestoreCommandQuotingTests : IDisposable
{
    /// <summary>Everything /bin/sh or PostgreSQL could interpret: $, command substitution, backslash, quotes, %, spaces, globs.</summary>
    internal const string Hostile = "a $HOME `id` $(id) \\ \" ' %f %p %% 100% * ; b";

    private readonly TempDirectory _dir = new("quoting");

    public void Dispose() => _dir.Dispose();

    /// <summary>A program that writes its argv, NUL-separated, to the file named by $ARGV_OUT.</summary>
    private string ArgvProgram()
    {
        var dir = Path.Combine(_dir.Path, Hostile);
        Directory.CreateDirectory(dir);
        var program = Path.Combine(dir, "argv " + Hostile);
        File.WriteAllText(program, "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > \"$ARGV_OUT\"\n");
        File.SetUnixFileMode(program, (UnixFileMode)Convert.ToInt32("755", 8));
        return program;
    }

    /// <summary>PostgreSQL's expansion of a restore_command (<c>%f</c>, <c>%p</c>, <c>%r</c>, <c>%%</c>; other <c>%x</c> kept).</summary>
    internal static string ExpandLikePostgres(string command, string f, string p)
    {
        var b = new StringBuilder();
        for (var i = 0; i < command.Length; i++)
        {
            if (command[i] == '%' && i + 1 < command.Length)
            {
                var next = command[i + 1];
                var replacement = next switch { 'f' => f, 'p' => p, 'r' => "000000010000000000000001", '%' => "%", _ => null };
                if (replacement is not null)
                {
                    b.Append(replacement);
                    i++;
                    continue;
                }
            }

            b.Append(command[i]);
        }

        return b.ToString();
    }

    private List<string> RunThroughShell(string command)
    {
        var output = Path.Combine(_dir.Path, "argv-" + Guid.NewGuid().ToString("N"));
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardError = true, WorkingDirectory = _dir.Path };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        psi.Environment["ARGV_OUT"] = output;
        psi.Environment["HOME"] = "/expanded-home";
        using var p = Process.Start(psi)!;
        var errors = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(10_000), "the shell did not finish");
        Assert.True(p.ExitCode == 0, $"sh exited {p.ExitCode}: {errors}");
        Assert.True(File.Exists(output), "the program did not run: " + errors);
        return File.ReadAllText(output).Split('\0', StringSplitOptions.None).SkipLast(1).ToList();
    }

    [Fact]
    public void The_wal_fetch_command_gives_the_program_every_hostile_word_verbatim()
    {
        var program = ArgvProgram();
        var repository = Path.Combine(_dir.Path, "repo " + Hostile);
        var backupId = "b'$(id)%p\"";
        var command = WalFetchCommandLine.Build(program, ["pgvault " + Hostile + ".dll"], ["--repository", repository, "--spool", "pg_wal/x"], backupId);

        var argv = RunThroughShell(ExpandLikePostgres(command, "000000010000000000000003", "pg_wal/RECOVERYXLOG"));

        Assert.Equal(["pgvault " + Hostile + ".dll", "wal-fetch", "--repository", repository, "--spool", "pg_wal/x", "--backup-id", backupId,
            "000000010000000000000003", "pg_wal/RECOVERYXLOG"], argv);
        Assert.False(File.Exists(Path.Combine(_dir.Path, "id")));
    }

    [Fact]
    public void Control_characters_are_refused_in_what_reaches_the_shell_or_the_configuration()
    {
        Assert.Throws<PgVaultException>(() => WalFetchCommandLine.Build("/bin/true", [], ["--repository", "/repo\nrestore_command = 'evil'"], "b"));
        Assert.Throws<PgVaultException>(() => SafeText.ShellWord("a\0b"));
        Assert.Throws<PgVaultException>(() => SafeText.ConfigValue("a\rb"));
    }

    [Fact]
    public void Configuration_values_escape_quotes_and_backslashes()
    {
        Assert.Equal("'it''s a \\\\ path'", SafeText.ConfigValue("it's a \\ path"));
        Assert.Equal("'a'\\''b'", SafeText.ShellWord("a'b"));
        Assert.Equal("100%%", SafeText.PercentLiteral("100%"));
    }

    [Fact]
    public void Start_options_rebuilt_from_postmaster_opts_reach_the_server_verbatim()
    {
        var data = Path.Combine(_dir.Path, "pgdata");
        Directory.CreateDirectory(data);
        // postmaster.opts as PostgreSQL writes it: every argument in double quotes, nothing escaped inside.
        var clusterName = "cluster_name=x $HOME `id` $(id) \\ ' % y";
        File.WriteAllText(Path.Combine(data, "postmaster.opts"),
            $"/usr/lib/postgresql/15/bin/postgres \"-D\" \"{data}\" \"-p\" \"5433\" \"-c\" \"{clusterName}\"\n");

        var options = InPlaceRestores.StartOptionsOf(data);

        // pg_ctl starts the server as: exec "postgres" -D "data" OPTIONS < /dev/null >> log, through /bin/sh.
        var argv = RunThroughShell($"{SafeText.ShellWord(ArgvProgram())} {options}");
        Assert.Equal(["-p", "5433", "-c", clusterName], argv);
    }

    [Fact]
    [Trait("Category", "Postgres")]
    public async Task A_restore_from_a_repository_at_a_hostile_path_recovers_and_verify_leaves_no_temporary_directory()
    {
        await using var pg = await PostgresCluster.StartAsync("hostile", ct: TestContext.Current.CancellationToken);
        await pg.ExecuteAsync("CREATE TABLE marker (n int PRIMARY KEY)", ct: TestContext.Current.CancellationToken);
        var (data, settings, backupId) = await RestoreTests.BackupAsync(pg, async () =>
        {
            for (var n = 1; n <= 3; n++)
            {
                await pg.ExecuteAsync($"INSERT INTO marker VALUES ({n})", ct: TestContext.Current.CancellationToken);
                await Pg.ScalarAsync<string>(pg, "SELECT pg_switch_wal()::text");
            }
        });
        using var _ = data;
        // The whole PgVault data directory (repository included) moves to a path full of shell and PostgreSQL syntax.
        var hostile = Path.Combine(_dir.Path, "data " + Hostile);
        Directory.Move(data.Path, hostile);
        settings["PgVault:DataDirectory"] = hostile;
        var temp = Directory.CreateDirectory(Path.Combine(_dir.Path, "tmp")).FullName;
        using var target = new TempDirectory("hostile-restored");

        var psi = PgVaultProcess.StartInfo(["restore", "--backup-id", backupId, "--to", target.Path, "--verify"], settings);
        psi.Environment["TMPDIR"] = temp + "/";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using (var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken))
        {
            limit.CancelAfter(TimeSpan.FromMinutes(5));
            await p.WaitForExitAsync(limit.Token);
        }

        var output = await stdout + await stderr;
        Assert.True(p.ExitCode == 0, output);
        Assert.Contains("pg_amcheck --all found no corruption", output, StringComparison.Ordinal);
        Assert.Equal(3, await RestoreTests.CountMarkersAsync(pg, target.Path));
        // --verify's directory for the server's socket and log is gone.
        Assert.Empty(Directory.EnumerateFileSystemEntries(temp));
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Npgsql;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary><c>pgvault quickstart</c> as a newcomer runs it: a backup AVAILABLE within a minute, everything stopped on SIGTERM.</summary>
[Trait("Category", "Postgres")]
public sealed class QuickstartTests
{
    [Fact]
    public async Task Quickstart_serves_an_available_backup_within_a_minute_and_stops_its_cluster()
    {
        TestEnvironment.RequireOrSkip(PostgresCluster.FindBinDirectory() is not null, "PostgreSQL binaries not found");
        var ct = TestContext.Current.CancellationToken;
        using var dir = new TempDirectory("quickstart");
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var psi = PgVaultProcess.StartInfo(["quickstart", "--directory", dir.Path, "--urls", $"http://127.0.0.1:{port}"],
            new Dictionary<string, string?>());
        using var process = Process.Start(psi)!;
        var output = new StringBuilder();
        var stderr = process.StandardError.ReadToEndAsync(ct);
        try
        {
            var clock = Stopwatch.StartNew();
            using (var startup = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                startup.CancelAfter(TimeSpan.FromSeconds(90));
                while (!output.ToString().Contains("pgvault is serving the API", StringComparison.Ordinal))
                {
                    var line = await process.StandardOutput.ReadLineAsync(startup.Token)
                               ?? throw new InvalidOperationException("quickstart exited early: " + output + await stderr);
                    output.AppendLine(line);
                }
            }

            var token = Regex.Match(output.ToString(), "Token:  (pgv_[A-Za-z0-9_-]{43})").Groups[1].Value;
            Assert.NotEmpty(token);
            Assert.Contains($"Console: http://127.0.0.1:{port}/ui/", output.ToString(), StringComparison.Ordinal);
            var drain = DrainAsync(process.StandardOutput, output);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            using (var page = await http.GetAsync(new Uri("/ui/", UriKind.Relative), ct))
                Assert.Equal(System.Net.HttpStatusCode.OK, page.StatusCode);
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            JsonNode? backup = null;
            await Wait.UntilAsync(async () =>
            {
                var list = JsonNode.Parse(await http.GetStringAsync(new Uri("/clusters/backups", UriKind.Relative), ct))!;
                backup = list["items"]!.AsArray().FirstOrDefault();
                return backup?["metadata"]!["state"]!.GetValue<string>() == "AVAILABLE";
            }, TimeSpan.FromSeconds(60), "quickstart's backup to be AVAILABLE");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"took {clock.Elapsed}");
            var p = backup!["properties"]!;
            Assert.Equal("15", p["version"]!.GetValue<string>());
            Assert.True(p["size"]!.GetValue<long>() >= 1);
            Assert.NotNull(p["earliestRecoveryTargetTime"]);

            // The command lines it printed work as printed, against the same configuration, while it serves.
            var config = Path.Combine(dir.Path, "pgvault.json");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(config));
            // The throwaway cluster takes TCP connections only with the generated password (in that file), never on trust.
            var connectionString = JsonNode.Parse(await File.ReadAllTextAsync(config, ct))!["PgVault"]!["Clusters"]![0]!["ConnectionString"]!
                .GetValue<string>();
            var withPassword = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false };
            Assert.False(string.IsNullOrEmpty(withPassword.Password), "the quickstart's connection string has no password");
            await using (var ok = new NpgsqlConnection(withPassword.ConnectionString))
                await ok.OpenAsync(ct);
            var noPassword = new NpgsqlConnectionStringBuilder(withPassword.ConnectionString) { Password = null };
            await using (var refused = new NpgsqlConnection(noPassword.ConnectionString))
                await Assert.ThrowsAnyAsync<NpgsqlException>(() => refused.OpenAsync(ct));
            var wrongPassword = new NpgsqlConnectionStringBuilder(withPassword.ConnectionString) { Password = "postgres" };
            await using (var refused = new NpgsqlConnection(wrongPassword.ConnectionString))
                Assert.Equal("28P01", (await Assert.ThrowsAsync<PostgresException>(() => refused.OpenAsync(ct))).SqlState);
            var hba = await File.ReadAllLinesAsync(Path.Combine(dir.Path, "postgres", "pgdata", "pg_hba.conf"), ct);
            Assert.DoesNotContain(hba, l => l.StartsWith("host", StringComparison.Ordinal) && l.Contains("trust", StringComparison.Ordinal));

            var lines = output.ToString().Split('\n').Select(l => l.Trim()).ToList();
            var verify = lines.Single(l => l.Contains(" verify --config ", StringComparison.Ordinal));
            var restore = lines.Single(l => l.Contains(" restore --config ", StringComparison.Ordinal));
            Assert.Contains($"--backup-id {backup!["id"]!.GetValue<string>()} ", restore, StringComparison.Ordinal);
            var info = lines.Single(l => l.Contains(" info --config ", StringComparison.Ordinal));
            var check = lines.Single(l => l.Contains(" check --config ", StringComparison.Ordinal));
            var (listed, infoOutput) = await ShellAsync(info, ct);
            Assert.True(listed == 0, infoOutput);
            Assert.Contains(backup!["id"]!.GetValue<string>(), infoOutput, StringComparison.Ordinal);
            var (checkedOk, checkOutput) = await ShellAsync(check, ct);
            Assert.True(checkedOk == 0, checkOutput);
            var (verified, verifyOutput) = await ShellAsync(verify, ct);
            Assert.True(verified == 0, verifyOutput);
            var (restored, restoreOutput) = await ShellAsync(restore, ct);
            Assert.True(restored == 0, restoreOutput);
            Assert.Contains("pg_amcheck --all found no corruption", restoreOutput, StringComparison.Ordinal);

            // SIGTERM, as a service manager or Ctrl+C would: the server and the throwaway cluster stop.
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                await kill.WaitForExitAsync(ct);
            using var exit = CancellationTokenSource.CreateLinkedTokenSource(ct);
            exit.CancelAfter(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(exit.Token);
            await drain;
            Assert.Contains("Stopping the throwaway PostgreSQL cluster", output.ToString(), StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(dir.Path, "postgres", "pgdata", "postmaster.pid")), "PostgreSQL still running");
        }
        finally
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
            var pgdata = Path.Combine(dir.Path, "postgres", "pgdata");
            if (File.Exists(Path.Combine(pgdata, "postmaster.pid")))
            {
                using var stop = Process.Start("runuser", ["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "stop", "-m", "immediate", "-D", pgdata]);
                await stop.WaitForExitAsync(CancellationToken.None);
            }
        }
    }

    private static async Task<(int Code, string Output)> ShellAsync(string commandLine, CancellationToken ct)
    {
        var psi = new ProcessStartInfo("/bin/sh", ["-c", commandLine + " 2>&1"]) { RedirectStandardOutput = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync(ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(TimeSpan.FromMinutes(3));
        try
        {
            await p.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }

        return (p.ExitCode, commandLine + "\n" + await output);
    }

    private static async Task DrainAsync(StreamReader reader, StringBuilder into)
    {
        while (await reader.ReadLineAsync(CancellationToken.None) is { } line)
        {
            lock (into)
                into.AppendLine(line);
        }
    }
}

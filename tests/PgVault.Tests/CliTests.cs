using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using PgVault.Security;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>The real <c>pgvault</c> program, run as a process the way the README runs it.</summary>
public sealed class CliTests
{
    private static readonly string Program = Path.Combine(AppContext.BaseDirectory, "pgvault.dll");

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string stdin, params string[] args)
    {
        using var process = Start(args, Environment.CurrentDirectory);
        await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static Process Start(string[] args, string workingDirectory)
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
        return System.Diagnostics.Process.Start(psi)!;
    }

    [Fact]
    public async Task Hash_password_reads_stdin_and_prints_a_verifiable_hash()
    {
        var (code, stdout, _) = await RunAsync("hunter2\n", "hash-password", "--iterations", "10000");
        Assert.Equal(0, code);
        var hash = stdout.Trim();
        Assert.True(PasswordHasher.Verify("hunter2", hash));
        Assert.DoesNotContain("hunter2", stdout, StringComparison.Ordinal);

        var (empty, _, err) = await RunAsync("", "hash-password");
        Assert.NotEqual(0, empty);
        Assert.Contains("no password", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_create_prints_the_token_once_and_a_config_entry_with_its_hash()
    {
        var (code, stdout, _) = await RunAsync("", "token", "create", "--name", "ci", "--cluster", "6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f");
        Assert.Equal(0, code);
        var token = Regex.Match(stdout, "pgv_[A-Za-z0-9_-]{43}").Value;
        Assert.Contains(TokenHasher.Hash(token), stdout, StringComparison.Ordinal);
        Assert.Contains("\"Clusters\":[\"6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f\"]", stdout, StringComparison.Ordinal);
        Assert.Single(Regex.Matches(stdout, Regex.Escape(token)));
    }

    [Fact]
    public async Task Serve_with_a_bad_configuration_exits_2_naming_the_key()
    {
        using var dir = new TempDirectory("cli-badconfig");
        var config = Path.Combine(dir.Path, "pgvault.json");
        await File.WriteAllTextAsync(config, """{ "PgVault": { "Clusters": [ { "Id": "abc", "ConnectionString": "Host=x" } ] } }""",
            TestContext.Current.CancellationToken);
        var (code, _, stderr) = await RunAsync("", "serve", "--config", config);
        Assert.Equal(2, code);
        Assert.Contains("PgVault:Clusters:0:Id", stderr, StringComparison.Ordinal);

        var (missing, _, err2) = await RunAsync("", "serve", "--config", Path.Combine(dir.Path, "nope.json"));
        Assert.Equal(2, missing);
        Assert.Contains("nope.json", err2, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_with_zero_configuration_answers_authenticated_requests()
    {
        using var dir = new TempDirectory("cli-serve");
        var port = FreePort();
        using var process = Start(["serve", "--urls", $"http://127.0.0.1:{port}"], dir.Path);
        try
        {
            // Read start-up output until the server says where it listens (bounded).
            var output = new System.Text.StringBuilder();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            while (!output.ToString().Contains("serving the API", StringComparison.Ordinal))
            {
                var line = await process.StandardOutput.ReadLineAsync(timeout.Token)
                           ?? throw new InvalidOperationException("pgvault exited early: " + output + await process.StandardError.ReadToEndAsync(timeout.Token));
                output.AppendLine(line);
            }

            var token = Regex.Match(output.ToString(), "pgv_[A-Za-z0-9_-]{43}").Value;
            Assert.NotEmpty(token);
            Assert.True(File.Exists(Path.Combine(dir.Path, "pgvault-data", "admin-token.sha256")));
            Assert.True(File.Exists(Path.Combine(dir.Path, "pgvault-data", "catalog.db")));
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            Assert.Equal(HttpStatusCode.Unauthorized, (await Json.GetAsync(client, "/clusters/backups")).Status);
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            var (status, body, _) = await Json.GetAsync(client, "/databases/postgresql/clusters/backups");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Empty(SpecSchemas.Errors("ClusterBackupList", body));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

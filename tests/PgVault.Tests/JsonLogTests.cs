using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgVault.Security;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>
/// <c>pgvault serve</c> as a process with <c>PgVault:Logging:Format=json</c>, backing up a real PostgreSQL whose
/// connection string carries a password, with users, tokens and a PostgreSQL catalog with a password: every line of its
/// output is a JSON object, the base backup has its one line with its figures, and no secret of the configuration
/// appears anywhere in the output.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class JsonLogTests
{
    private static readonly string Program = Path.Combine(AppContext.BaseDirectory, "pgvault.dll");
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_line_is_JSON_the_base_backup_line_has_its_figures_and_no_secret_appears()
    {
        const string userPassword = "user-Pw-Okapi-8812";
        const string token = "pgv_jsonlog-0123456789abcdefghijklmnopqrstuvwx";
        const string clusterPassword = "cluster-Pw-Heron-5530";
        const string unreachablePassword = "unreachable-Pw-Lynx-0921";
        const string catalogPassword = "catalog-Pw-Tapir-3377";
        await using var pg = await PostgresCluster.StartAsync("jsonlog", ct: Ct);
        var catalogDb = await pg.CreateDatabaseAsync("jsonlogcatalog", Ct);
        using var dir = new TempDirectory("jsonlog");
        var clusterId = Guid.NewGuid().ToString();
        var unreachableId = Guid.NewGuid().ToString();
        var port = FreePort();
        // The cluster server trusts loopback, so the passwords are sent nowhere, but they are in the configuration.
        var config = new JsonObject
        {
            // Debug: the streaming failures' exceptions (driver messages, stack traces) are in the scanned output too.
            ["Logging"] = new JsonObject { ["LogLevel"] = new JsonObject { ["Default"] = "Debug" } },
            ["PgVault"] = new JsonObject
            {
                ["DataDirectory"] = dir.Path,
                ["Logging"] = new JsonObject { ["Format"] = "json" },
                ["Catalog"] = new JsonObject
                {
                    ["Provider"] = "postgres",
                    ["ConnectionString"] = WithPassword(pg.ConnectionString(catalogDb), catalogPassword),
                },
                ["Clusters"] = new JsonArray(
                    new JsonObject
                    {
                        ["Id"] = clusterId,
                        ["ConnectionString"] = WithPassword(pg.ConnectionString(), clusterPassword),
                        ["BaseBackupSchedule"] = "0 0 1 1 *",
                    },
                    new JsonObject
                    {
                        ["Id"] = unreachableId,
                        ["ConnectionString"] = $"Host=127.0.0.1;Port={FreePort()};Username=postgres;Password={unreachablePassword};Timeout=2",
                        ["BaseBackupSchedule"] = "0 0 1 1 *",
                    }),
                ["Users"] = new JsonArray(new JsonObject
                {
                    ["Name"] = "olga",
                    ["PasswordHash"] = PasswordHasher.Hash(userPassword, PasswordHasher.MinIterations),
                    ["Clusters"] = new JsonArray("*"),
                }),
                ["Tokens"] = new JsonArray(new JsonObject
                {
                    ["Name"] = "ci",
                    ["TokenHash"] = TokenHasher.Hash(token),
                    ["Clusters"] = new JsonArray("*"),
                }),
                ["RateLimit"] = new JsonObject { ["PermitsPerSecond"] = 0 },
            },
        };
        var configFile = Path.Combine(dir.Path, "pgvault.json");
        await File.WriteAllTextAsync(configFile, config.ToJsonString(), Ct);

        var lines = new ConcurrentQueue<string>();
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dir.Path,
        };
        foreach (var a in new[] { Program, "serve", "--config", configFile, "--urls", $"http://127.0.0.1:{port}" })
            psi.ArgumentList.Add(a);
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue("stderr: " + e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            bool Has(string text) => lines.Any(l => l.Contains(text, StringComparison.Ordinal));
            await WaitAsync(() => Has("pgvault is serving the API"), "the server to start", lines);
            await WaitAsync(() => Has("base backup") && lines.Any(l => l.Contains("DatabaseBytes", StringComparison.Ordinal)),
                "the base backup's log line", lines);
            await WaitAsync(() => lines.Any(l => l.Contains(unreachableId, StringComparison.Ordinal) && l.Contains("interrupted", StringComparison.Ordinal)),
                "the unreachable cluster's streaming failure", lines);

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
            var basic = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"olga:{userPassword}")));
            var wrongBasic = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"olga:{userPassword}x")));
            foreach (var auth in new[] { basic, wrongBasic, new("Bearer", token), new AuthenticationHeaderValue("Bearer", token + "x") })
            {
                http.DefaultRequestHeaders.Authorization = auth;
                await http.GetAsync(new Uri($"/clusters/{clusterId}/backups?limit=5", UriKind.Relative), Ct);
            }

            http.DefaultRequestHeaders.Authorization = null;
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct)).StatusCode);
            // The process's own request metrics: the route template with each status it answered.
            await MetricsTests.WaitAsync(async () =>
            {
                var scrape = await MetricsTests.ScrapeAsync(http);
                return new[] { "200", "401" }.All(status => scrape.Find("http_server_request_duration_seconds_count",
                    ("http_route", "/clusters/{clusterId}/backups"), ("http_response_status_code", status)).Sum(x => x.Value) == 2);
            }, "two requests answered 200 and two 401 in the request metrics", TimeSpan.FromSeconds(15));
            await WaitAsync(() => Has("GET /metrics"), "the request log lines", lines);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }

        var output = lines.ToList();
        Assert.DoesNotContain(output, l => l.StartsWith("stderr: ", StringComparison.Ordinal));
        foreach (var line in output.Where(l => l.Length > 0))
        {
            var entry = ParseOrNull(line);
            Assert.True(entry is not null, $"not a JSON log line: {line}");

            foreach (var field in new[] { "Timestamp", "LogLevel", "Category", "Message" })
                Assert.True(entry.ContainsKey(field), $"log line without {field}: {line}");
        }

        var backup = output.Select(l => JsonNode.Parse(l)!.AsObject())
            .Single(e => e["State"]?["DatabaseBytes"] is not null && e["Message"]!.GetValue<string>().Contains("base backup", StringComparison.Ordinal));
        var state = backup["State"]!.AsObject();
        Assert.Equal(clusterId, state["Cluster"]!.GetValue<string>());
        Assert.Matches("^[0-9]{8}T[0-9]{9}Z$", state["Label"]!.GetValue<string>());
        Assert.True(state["DatabaseBytes"]!.GetValue<long>() > 1_000_000);
        Assert.True(state["StoredBytes"]!.GetValue<long>() > 0);
        Assert.True(state["DurationSeconds"]!.GetValue<double>() > 0);
        Assert.True(state["BytesPerSecond"]!.GetValue<double>() > 0);
        Assert.Contains(output, l => l.Contains("\"Status\":401", StringComparison.Ordinal));
        Assert.Contains(output, l => l.Contains("\"LogLevel\":\"Debug\"", StringComparison.Ordinal) && l.Contains(unreachableId, StringComparison.Ordinal)
                                     && l.Contains("\"Exception\":", StringComparison.Ordinal));

        var all = string.Join("\n", output);
        var secrets = new[]
        {
            userPassword, token, token[4..], catalogPassword, clusterPassword, unreachablePassword, TokenHasher.Hash(token),
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"olga:{userPassword}")),
        };
        foreach (var secret in secrets)
            Assert.DoesNotContain(secret, all, StringComparison.Ordinal);
    }

    private static JsonObject? ParseOrNull(string line)
    {
        try
        {
            return JsonNode.Parse(line) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string WithPassword(string connectionString, string password) =>
        new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { Password = password }.ToString();

    private static async Task WaitAsync(Func<bool> condition, string what, ConcurrentQueue<string> lines)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > Bounded)
                Assert.Fail($"timed out after {Bounded.TotalSeconds:0} s waiting for {what}; output:\n{string.Join("\n", lines)}");
            await Task.Delay(100, Ct);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using PgVault.Catalog;
using PgVault.Engine.Telemetry;
using PgVault.Engine.Wal;
using PgVault.Postgres;
using PgVault.Security;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>
/// Runs alone: OpenTelemetry's meter listener is process-wide, so another test's server (same meter and instrument names)
/// ending while this one runs would retire the shared series mid-test. <c>serve</c> has one app per process.
/// </summary>
[CollectionDefinition(nameof(MetricsCollection), DisableParallelization = true)]
public sealed class MetricsCollection;

/// <summary><c>GET /metrics</c>: scraped over real HTTP, parsed, and checked after a real base backup of a real PostgreSQL.</summary>
[Collection(nameof(MetricsCollection))]
public sealed partial class MetricsTests
{
    private const string Token = "pgv_metrics-test-0123456789abcdefghijklmnopq";
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static Dictionary<string, string?> EngineSettings(string clusterId, PostgresCluster pg) => new()
    {
        ["PgVault:Engine:Enabled"] = "true",
        ["PgVault:Clusters:0:Id"] = clusterId,
        ["PgVault:Clusters:0:ConnectionString"] = pg.ConnectionString(),
        ["PgVault:Clusters:0:BaseBackupSchedule"] = "0 0 1 1 *",
        ["PgVault:Tokens:0:Name"] = "metrics",
        ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(Token),
        ["PgVault:Tokens:0:Clusters:0"] = "*",
        ["PgVault:RateLimit:PermitsPerSecond"] = "0",
    };

    internal static async Task<PrometheusScrape> ScrapeAsync(HttpClient anonymous)
    {
        var (status, body, response) = await Json.GetAsync(anonymous, "/metrics");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        return PrometheusScrape.Parse(body);
    }

    [Fact]
    [Trait("Category", "Postgres")]
    public async Task After_a_real_base_backup_every_documented_series_is_present_with_plausible_values()
    {
        await using var pg = await PostgresCluster.StartAsync("metrics", ct: Ct);
        var started = DateTimeOffset.UtcNow;
        var clusterId = Guid.NewGuid().ToString();
        await using var server = await ApiServer.StartAsync("metrics", EngineSettings(clusterId, pg));
        using var http = server.Client(Token);
        using var anonymous = server.Client((System.Net.Http.Headers.AuthenticationHeaderValue?)null);

        await WaitAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
            "the first base backup");
        await pg.ExecuteAsync("CREATE TABLE m AS SELECT g FROM generate_series(1, 10000) g", ct: Ct);
        var insert = Lsn.Parse(await ScalarAsync(pg, "SELECT pg_current_wal_insert_lsn()::text"));
        await WaitAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= insert.Value,
            $"the repository's WAL to reach {insert}");
        // The hook the restore code calls (pgvault restore, the API's in-place restore): recorded here, exported below.
        PgVaultMetrics.RecordRestore(clusterId, TimeSpan.FromSeconds(42), 123_456);
        Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(http, $"/clusters/{clusterId}")).Status);

        var scrape = await ScrapeAsync(anonymous);
        var now = DateTimeOffset.UtcNow;
        var c = ("cluster", clusterId);

        // Every documented series is served, and every PgVault series served is documented.
        var documented = DocumentedSeries();
        Assert.NotEmpty(documented);
        var families = scrape.Types.Keys.ToHashSet(StringComparer.Ordinal);
        foreach (var name in documented)
            Assert.True(families.Contains(name), $"docs/OPERATIONS.md documents {name}, but /metrics has no such family");
        foreach (var name in families.Where(f => f.StartsWith("pgvault_", StringComparison.Ordinal)))
            Assert.True(documented.Contains(name), $"/metrics serves {name}, which docs/OPERATIONS.md does not document");

        var lastBaseBackup = scrape.Single("pgvault_base_backup_last_success_timestamp_seconds", c);
        Assert.InRange(lastBaseBackup, started.ToUnixTimeSeconds() - 1, now.ToUnixTimeSeconds() + 1);
        Assert.True(scrape.Single("pgvault_base_backup_last_duration_seconds", c) > 0);
        Assert.True(scrape.Single("pgvault_base_backup_last_throughput_bytes_per_second", c) > 0);
        Assert.True(scrape.Single("pgvault_base_backup_duration_seconds_count", c) >= 1);
        Assert.True(scrape.Single("pgvault_base_backup_duration_seconds_sum", c) > 0);
        Assert.True(scrape.Single("pgvault_base_backup_database_bytes_total", c) > 1_000_000, "a base backup copies at least the catalogs");
        Assert.True(scrape.Single("pgvault_base_backups_total", c, ("outcome", "complete")) >= 1);
        Assert.True(scrape.Single("pgvault_repository_size_bytes", c) > 0);
        Assert.Equal(1, scrape.Single("pgvault_wal_streaming", c));
        // The repository's durable end is at least what the catalog showed (the catalog follows it, never leads).
        Assert.True(scrape.Single("pgvault_wal_durable_lsn", c) >= insert.Value,
            $"pgvault_wal_durable_lsn {scrape.Single("pgvault_wal_durable_lsn", c)} is behind {insert} that the catalog already reached");
        var lagBytes = scrape.Single("pgvault_wal_lag_bytes", c);
        var lagSeconds = scrape.Single("pgvault_wal_lag_seconds", c);
        Assert.InRange(lagBytes, 0, 64L << 20);
        Assert.InRange(lagSeconds, 0, 60);
        // With the server idle, the repository catches up: no lag at all (nothing received stays counted as pending).
        await WaitAsync(async () =>
        {
            var idle = await ScrapeAsync(anonymous);
            return idle.Single("pgvault_wal_lag_bytes", c) == 0 && idle.Single("pgvault_wal_lag_seconds", c) == 0;
        }, "WAL lag 0 bytes and 0 s on the idle server", TimeSpan.FromSeconds(30));
        var windowStart = scrape.Single("pgvault_recovery_window_start_timestamp_seconds", c);
        var windowEnd = scrape.Single("pgvault_recovery_window_end_timestamp_seconds", c);
        Assert.True(windowStart <= windowEnd, $"window start {windowStart} after its end {windowEnd}");
        Assert.InRange(windowStart, started.ToUnixTimeSeconds() - 1, now.ToUnixTimeSeconds() + 1);
        Assert.InRange(windowEnd, started.ToUnixTimeSeconds() - 1, now.ToUnixTimeSeconds() + 1);
        var active = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!;
        Assert.Equal(active.EarliestRecoveryTargetTime!.Value.ToUnixTimeMilliseconds() / 1000.0, windowStart, 3);
        Assert.Equal(1, scrape.Single("pgvault_restore_duration_seconds_count", c));
        Assert.Equal(42, scrape.Single("pgvault_restore_duration_seconds_sum", c));
        Assert.Equal(123_456, scrape.Single("pgvault_restore_database_bytes_total", c));

        // API requests by route template and status: one more GET of a route shows as one more count.
        const string route = "/clusters/{clusterId}/backups";
        double Count(PrometheusScrape s) => s.Find("http_server_request_duration_seconds_count", ("http_route", route),
            ("http_response_status_code", "200"), ("http_request_method", "GET")).Sum(x => x.Value);
        var before = Count(scrape);
        var (status, _, _) = await Json.GetAsync(http, $"/clusters/{clusterId}/backups");
        Assert.Equal(HttpStatusCode.OK, status);
        // ASP.NET Core records a request when it has ended, which can be just after the client read the response.
        // Other tests' servers in this process may add to the same series (one process-wide meter listener), never less.
        var after = before;
        await WaitAsync(async () =>
        {
            after = Count(await ScrapeAsync(anonymous));
            return after >= before + 1;
        }, $"the request count of route {route} to grow from {before}", TimeSpan.FromSeconds(15));
        Assert.Equal("histogram", scrape.Types["http_server_request_duration_seconds"]);
    }

    [Fact]
    public async Task Metrics_are_served_without_credentials_and_can_be_switched_off()
    {
        await using (var on = await ApiServer.StartAsync("metrics-on", new Dictionary<string, string?>()))
        {
            using var anonymous = on.Client((System.Net.Http.Headers.AuthenticationHeaderValue?)null);
            Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(anonymous, "/healthz")).Status);
            var scrape = await ScrapeAsync(anonymous);
            Assert.Contains("http_server_request_duration_seconds", scrape.Types.Keys);
        }

        await using var off = await ApiServer.StartAsync("metrics-off", new Dictionary<string, string?> { ["PgVault:Metrics:Enabled"] = "false" });
        using var client = off.Client((System.Net.Http.Headers.AuthenticationHeaderValue?)null);
        var (status, body, _) = await Json.GetAsync(client, "/metrics");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("PGV-0106", body, StringComparison.Ordinal);
    }

    [Fact]
    public void The_WAL_lag_tracker_follows_received_and_durable_positions()
    {
        var lag = new WalLagTracker();
        var t0 = DateTimeOffset.UnixEpoch.AddDays(20000);
        Assert.Null(lag.OldestPendingSince);
        lag.ObserveServerEnd(new Lsn(1000));
        lag.Received(new Lsn(100), t0);
        lag.Received(new Lsn(200), t0 + TimeSpan.FromMilliseconds(50)); // same bucket
        lag.Received(new Lsn(300), t0 + TimeSpan.FromSeconds(1));
        Assert.Equal(new Lsn(1000), lag.ServerEnd);
        Assert.Equal(t0, lag.OldestPendingSince);
        lag.Durable(new Lsn(150));
        Assert.Equal(t0, lag.OldestPendingSince); // the first bucket ends at 200
        lag.Durable(new Lsn(200));
        Assert.Equal(t0 + TimeSpan.FromSeconds(1), lag.OldestPendingSince);
        lag.Durable(new Lsn(300));
        Assert.Null(lag.OldestPendingSince);
        lag.Received(new Lsn(2000), t0 + TimeSpan.FromSeconds(2));
        Assert.Equal(new Lsn(2000), lag.ServerEnd);
        lag.Disconnected();
        Assert.Null(lag.OldestPendingSince);

        // WAL made durable before its receipt is noted (the flusher won the race) leaves nothing pending: an idle
        // server must not show a growing lag.
        lag.Connected(new Lsn(5000), new Lsn(4000));
        Assert.Equal(new Lsn(5000), lag.ServerEnd);
        lag.Durable(new Lsn(4500));
        lag.Received(new Lsn(4500), t0 + TimeSpan.FromSeconds(3));
        Assert.Null(lag.OldestPendingSince);
        lag.Received(new Lsn(4600), t0 + TimeSpan.FromSeconds(4));
        Assert.Equal(t0 + TimeSpan.FromSeconds(4), lag.OldestPendingSince);
    }

    /// <summary>The series names docs/OPERATIONS.md's metrics table documents (first column, in backticks).</summary>
    private static HashSet<string> DocumentedSeries()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "OPERATIONS.md"));
        var section = readme[readme.IndexOf("## Metrics", StringComparison.Ordinal)..];
        var next = section.IndexOf("\n## ", 3, StringComparison.Ordinal);
        if (next > 0)
            section = section[..next];
        return SeriesRow().Matches(section).Select(m => m.Groups["name"].Value).ToHashSet(StringComparer.Ordinal);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PgVault.slnx")))
                return dir.FullName;
        }

        throw new InvalidOperationException("PgVault.slnx not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^\| `(?<name>[a-z_]+)` \|", RegexOptions.Multiline | RegexOptions.ExplicitCapture)]
    private static partial Regex SeriesRow();

    private static async Task<string> ScalarAsync(PostgresCluster pg, string sql)
    {
        await using var conn = await pg.OpenAsync(ct: Ct);
        await using var cmd = new Npgsql.NpgsqlCommand(sql, conn);
        return (string)(await cmd.ExecuteScalarAsync(Ct))!;
    }

    internal static async Task WaitAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? Bounded;
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > limit)
                Assert.Fail($"timed out after {limit.TotalSeconds:0} s waiting for {what}");
            await Task.Delay(100, Ct);
        }
    }
}

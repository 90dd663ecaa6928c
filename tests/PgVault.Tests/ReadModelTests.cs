using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using PgVault.Api.ReadModel;
using PgVault.Catalog;
using PgVault.Catalog.Postgres;
using PgVault.Catalog.Sqlite;
using PgVault.Security;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>A PostgreSQL server for the read-model tests, started on first use; each test gets a database of its own.</summary>
public sealed class ReadModelPostgres : IAsyncDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private PostgresCluster? _cluster;

    public async Task<string> CreateDatabaseAsync(string hint)
    {
        TestEnvironment.RequireOrSkip(PostgresCluster.FindBinDirectory() is not null,
            "no PostgreSQL server binaries: install postgresql-15");
        await _lock.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            _cluster ??= await PostgresCluster.StartAsync("readmodel", ct: TestContext.Current.CancellationToken);
        }
        finally
        {
            _lock.Release();
        }

        return _cluster.ConnectionString(await _cluster.CreateDatabaseAsync(hint, TestContext.Current.CancellationToken));
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
            await _cluster.DisposeAsync();
        _lock.Dispose();
    }
}

/// <summary>
/// The backup read model against the catalog it follows, on both catalogs: the same bytes as the catalog path, this
/// process's writes visible to the next request, other processes' writes within <c>Api:ReadModel:MaxStaleness</c>.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class ReadModelTests(ReadModelPostgres postgres) : IClassFixture<ReadModelPostgres>
{
    private const string C1 = "11111111-1111-4111-8111-111111111111";
    private const string C2 = "22222222-2222-4222-8222-222222222222";
    private const string C3 = "33333333-3333-4333-8333-333333333333";
    private const string Unconfigured = "44444444-4444-4444-8444-444444444444";
    private const string AdminToken = "pgv_readmodel-admin-0123456789abcdefghijklmnopq";
    private const string OneToken = "pgv_readmodel-one-0123456789abcdefghijklmnopqrs";
    private const string TwoToken = "pgv_readmodel-two-0123456789abcdefghijklmnopqrs";
    private static readonly DateTimeOffset T0 = new(2026, 3, 4, 5, 6, 7, TimeSpan.Zero);

    public static TheoryData<string> Catalogs => new() { "sqlite", "postgres" };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(Catalogs))]
    public async Task Responses_from_the_read_model_are_byte_for_byte_those_of_the_catalog(string provider)
    {
        using var dir = new TempDirectory("readmodel-bytes");
        var settings = await SettingsAsync(provider, dir, nameof(Responses_from_the_read_model_are_byte_for_byte_those_of_the_catalog));
        await using var fast = await ApiServer.StartAsync("readmodel-on", settings, dataDirectory: dir);
        var backups = Seed();
        await fast.Catalog.SaveBackupsAsync(backups, Ct);
        var model = fast.Services.GetRequiredService<BackupReadModel>();
        await model.LoadNowAsync(Ct);
        Assert.NotNull(await model.ListAsync(ClusterScope.All, new PageRequest(0, 10), Ct));
        Assert.Equal(backups.Count, model.Count);

        settings["PgVault:Api:ReadModel:Enabled"] = "false";
        await using var plain = await ApiServer.StartAsync("readmodel-off", settings, dataDirectory: dir);

        var ids = backups.Select(b => b.Id).Where((_, i) => i % 17 == 0).Append("orphan-15").Append("no-such-backup").ToList();
        var urls = new List<string>
        {
            "/clusters/backups", "/clusters/backups?limit=1000", "/clusters/backups?offset=7&limit=13",
            "/clusters/backups?offset=290&limit=5", "/clusters/backups?offset=299&limit=1", "/clusters/backups?offset=5000",
            "/clusters/backups?limit=0",
            $"/clusters/{C1}/backups", $"/clusters/{C1}/backups?offset=3&limit=50", $"/clusters/{C2.ToUpperInvariant()}/backups?limit=2",
            $"/clusters/{C3}/backups", $"/clusters/{C3}/backups?offset=1000", $"/clusters/{Unconfigured}/backups",
            "/clusters/not-a-uuid/backups",
        };
        urls.AddRange(ids.Select(id => $"/clusters/backups/{id}"));
        foreach (var token in new[] { AdminToken, OneToken, TwoToken })
        {
            using var a = fast.Client(token);
            using var b = plain.Client(token);
            foreach (var prefix in new[] { "", "/databases/postgresql" })
            {
                foreach (var url in urls)
                {
                    using var expected = await b.GetAsync(prefix + url, Ct);
                    using var actual = await a.GetAsync(prefix + url, Ct);
                    var what = $"{token[..18]} GET {prefix}{url}";
                    Assert.True(expected.StatusCode == actual.StatusCode, $"{what}: {actual.StatusCode}, expected {expected.StatusCode}");
                    Assert.Equal(expected.Content.Headers.ContentType?.ToString(), actual.Content.Headers.ContentType?.ToString());
                    var expectedBody = (await expected.Content.ReadAsStringAsync(Ct))
                        .Replace(plain.BaseAddress.Authority, "HOST", StringComparison.Ordinal);
                    var actualBody = (await actual.Content.ReadAsStringAsync(Ct))
                        .Replace(fast.BaseAddress.Authority, "HOST", StringComparison.Ordinal);
                    Assert.True(expectedBody == actualBody, $"{what}:\n{actualBody}\nexpected\n{expectedBody}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Catalogs))]
    public async Task Writes_of_this_process_are_visible_to_the_next_request(string provider)
    {
        using var dir = new TempDirectory("readmodel-local");
        var settings = await SettingsAsync(provider, dir, nameof(Writes_of_this_process_are_visible_to_the_next_request));
        settings["PgVault:Api:ReadModel:MaxStaleness"] = "01:00:00"; // only this process's writes can make it look
        await using var server = await ApiServer.StartAsync("readmodel-local", settings, dataDirectory: dir);
        await server.Catalog.SaveBackupsAsync(Seed(), Ct);
        var model = server.Services.GetRequiredService<BackupReadModel>();
        await model.LoadNowAsync(Ct);
        using var client = server.Client(AdminToken);
        Assert.Equal(Seed().Count, await TotalAsync(client));

        var newest = Backup("newest-15", C1, T0.AddDays(1), BackupState.Busy);
        await server.Catalog.SaveBackupsAsync([newest], Ct);
        Assert.Equal("newest-15", await FirstIdAsync(client, "/clusters/backups?limit=1"));
        Assert.Equal("newest-15", await FirstIdAsync(client, $"/clusters/{C1}/backups?limit=1"));
        Assert.Contains("\"BUSY\"", await GetStringAsync(client, "/clusters/backups/newest-15"), StringComparison.Ordinal);

        await server.Catalog.SaveBackupsAsync([newest with { State = BackupState.Available, SizeBytes = 3L << 20 }], Ct);
        var body = await GetStringAsync(client, "/clusters/backups/newest-15");
        Assert.Contains("\"AVAILABLE\"", body, StringComparison.Ordinal);
        Assert.Contains("\"size\":3,", body, StringComparison.Ordinal);

        Assert.True(await server.Catalog.DeleteBackupAsync("newest-15", Ct));
        using (var gone = await client.GetAsync("/clusters/backups/newest-15", Ct))
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.NotEqual("newest-15", await FirstIdAsync(client, "/clusters/backups?limit=1"));
        Assert.True(model.IsLoaded);
    }

    [Theory]
    [MemberData(nameof(Catalogs))]
    public async Task Writes_of_another_process_are_visible_within_the_staleness_bound(string provider)
    {
        using var dir = new TempDirectory("readmodel-other");
        var settings = await SettingsAsync(provider, dir, nameof(Writes_of_another_process_are_visible_within_the_staleness_bound));
        settings["PgVault:Api:ReadModel:MaxStaleness"] = "00:00:00.2";
        await using var server = await ApiServer.StartAsync("readmodel-other", settings, dataDirectory: dir);
        await server.Catalog.SaveBackupsAsync(Seed(), Ct);
        await server.Services.GetRequiredService<BackupReadModel>().LoadNowAsync(Ct);
        using var client = server.Client(AdminToken);
        Assert.Equal(Seed().Count, await TotalAsync(client));

        // Another process: its own catalog instance on the same database.
        var other = OpenOther(provider, settings);
        try
        {
            var watch = Stopwatch.StartNew();
            await other.SaveBackupsAsync([Backup("from-elsewhere-15", C2, T0.AddDays(2), BackupState.Busy)], Ct);
            await WaitUntilAsync(async () => await FirstIdAsync(client, "/clusters/backups?limit=1") == "from-elsewhere-15");
            await other.SaveBackupsAsync([Backup("from-elsewhere-15", C2, T0.AddDays(2), BackupState.Failed)], Ct);
            await WaitUntilAsync(async () =>
                (await GetStringAsync(client, "/clusters/backups/from-elsewhere-15")).Contains("\"FAILED\"", StringComparison.Ordinal));
            Assert.True(await other.DeleteBackupAsync("from-elsewhere-15", Ct));
            await WaitUntilAsync(async () =>
            {
                using var r = await client.GetAsync("/clusters/backups/from-elsewhere-15", Ct);
                return r.StatusCode == HttpStatusCode.NotFound;
            });
            TestContext.Current.SendDiagnosticMessage($"three writes of another process seen in {watch.ElapsedMilliseconds} ms");
        }
        finally
        {
            if (other is IAsyncDisposable d)
                await d.DisposeAsync();
        }
    }

    [Theory]
    [MemberData(nameof(Catalogs))]
    public async Task Within_the_staleness_bound_the_model_does_not_look_at_other_processes_writes(string provider)
    {
        using var dir = new TempDirectory("readmodel-stale");
        var settings = await SettingsAsync(provider, dir,
            nameof(Within_the_staleness_bound_the_model_does_not_look_at_other_processes_writes));
        settings["PgVault:Api:ReadModel:MaxStaleness"] = "01:00:00";
        await using var server = await ApiServer.StartAsync("readmodel-stale", settings, dataDirectory: dir);
        await server.Catalog.SaveBackupsAsync(Seed(), Ct);
        await server.Services.GetRequiredService<BackupReadModel>().LoadNowAsync(Ct);
        using var client = server.Client(AdminToken);
        Assert.Equal(Seed().Count, await TotalAsync(client)); // the first request after the load looks at the feed

        var other = OpenOther(provider, settings);
        try
        {
            await other.SaveBackupsAsync([Backup("unseen-15", C2, T0.AddDays(2), BackupState.Busy)], Ct);
            Assert.NotEqual("unseen-15", await FirstIdAsync(client, "/clusters/backups?limit=1"));
            // A write of this process makes the next request read the feed, which carries the other's write too.
            await server.Catalog.SaveBackupsAsync([Backup("local-15", C1, T0.AddDays(1), BackupState.Busy)], Ct);
            Assert.Equal("unseen-15", await FirstIdAsync(client, "/clusters/backups?limit=1"));
        }
        finally
        {
            if (other is IAsyncDisposable d)
                await d.DisposeAsync();
        }
    }

    private async Task<Dictionary<string, string?>> SettingsAsync(string provider, TempDirectory dir, string test)
    {
        var settings = new Dictionary<string, string?>
        {
            ["PgVault:Clusters:0:Id"] = C1,
            ["PgVault:Clusters:0:ConnectionString"] = "Host=127.0.0.1;Username=backup",
            ["PgVault:Clusters:1:Id"] = C2,
            ["PgVault:Clusters:1:ConnectionString"] = "Host=127.0.0.1;Username=backup",
            ["PgVault:Clusters:2:Id"] = C3,
            ["PgVault:Clusters:2:ConnectionString"] = "Host=127.0.0.1;Username=backup",
            ["PgVault:Tokens:0:Name"] = "admin",
            ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(AdminToken),
            ["PgVault:Tokens:0:Clusters:0"] = "*",
            ["PgVault:Tokens:1:Name"] = "one",
            ["PgVault:Tokens:1:TokenHash"] = TokenHasher.Hash(OneToken),
            ["PgVault:Tokens:1:Clusters:0"] = C2,
            ["PgVault:Tokens:2:Name"] = "two",
            ["PgVault:Tokens:2:TokenHash"] = TokenHasher.Hash(TwoToken),
            ["PgVault:Tokens:2:Clusters:0"] = C1,
            ["PgVault:Tokens:2:Clusters:1"] = C3,
            ["PgVault:Tokens:2:Clusters:2"] = Unconfigured,
            ["PgVault:RateLimit:PermitsPerSecond"] = "0",
        };
        if (provider == "postgres")
        {
            settings["PgVault:Catalog:Provider"] = "postgres";
            settings["PgVault:Catalog:ConnectionString"] = await postgres.CreateDatabaseAsync(test);
        }
        else
        {
            settings["PgVault:Catalog:ConnectionString"] = $"Data Source={Path.Combine(dir.Path, "catalog.db")}";
        }

        return settings;
    }

    private static ICatalog OpenOther(string provider, Dictionary<string, string?> settings) =>
        provider == "postgres"
            ? new PostgresCatalog(settings["PgVault:Catalog:ConnectionString"]!)
            : new SqliteCatalog(settings["PgVault:Catalog:ConnectionString"]!);

    /// <summary>
    /// 300 backups: three clusters (one of them also in an unconfigured cluster's company), every state, with and without a
    /// recovery time, many sharing a creation time (the id decides), ids of different lengths.
    /// </summary>
    private static List<BackupRecord> Seed()
    {
        var states = Enum.GetValues<BackupState>();
        var list = new List<BackupRecord>();
        for (var i = 0; i < 300; i++)
        {
            var cluster = (i % 4) switch { 0 => C1, 1 => C2, 2 => C1, _ => Unconfigured };
            var created = T0.AddMinutes(-(i / 3)).AddTicks(i % 2 * 10);
            list.Add(Backup($"{cluster}-{i:x}-15", cluster, created, states[i % states.Length]) with
            {
                IsActive = i % 11 == 0,
                EarliestRecoveryTargetTime = i % 3 == 0 ? null : created.AddSeconds(61.5),
                SizeBytes = i * 700_001L,
            });
        }

        list.Add(Backup("orphan-15", "99999999-9999-4999-8999-999999999999", T0, BackupState.Available));
        return list;
    }

    private static BackupRecord Backup(string id, string cluster, DateTimeOffset created, BackupState state) => new()
    {
        Id = id,
        ClusterId = cluster,
        CreatedDate = created,
        State = state,
        Version = "15",
        IsActive = false,
        Location = "local",
    };

    private static async Task<string> GetStringAsync(HttpClient client, string url)
    {
        using var response = await client.GetAsync(url, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {url}: {response.StatusCode} {body}");
        return body;
    }

    private static async Task<string?> FirstIdAsync(HttpClient client, string url) =>
        Json.Parse(await GetStringAsync(client, url))["items"]!.AsArray().FirstOrDefault()?["id"]?.GetValue<string>();

    /// <summary>The number of backups the admin sees, by paging through them.</summary>
    private static async Task<int> TotalAsync(HttpClient client)
    {
        var total = 0;
        for (var offset = 0; ; offset += 1000)
        {
            var page = Json.Parse(await GetStringAsync(client, $"/clusters/backups?offset={offset}&limit=1000"));
            total += page["items"]!.AsArray().Count;
            if (page["links"]!["next"] is null)
                return total;
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(15), "not visible within 15 s (MaxStaleness is 0.2 s)");
            await Task.Delay(20, Ct);
        }
    }
}

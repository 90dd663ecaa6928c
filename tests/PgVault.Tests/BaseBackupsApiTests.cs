using System.Net;
using Microsoft.Extensions.DependencyInjection;
using PgVault.Catalog;
using PgVault.Engine.Repository;
using PgVault.Hosting;
using PgVault.Security;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>
/// PgVault's extension <c>GET /clusters/backups/{backupId}/basebackups</c> (and one base backup by label) over real HTTP:
/// the IONOS list envelope, paging, keep flags and annotations from the repository, and the backup's own authorisation.
/// </summary>
public sealed class BaseBackupsApiTests
{
    private const string Cluster = "3c2b1a09-8f7e-4d6c-9b5a-0123456789ab";
    private const string Other = "4d3c2b1a-9f8e-4e7d-8c6b-1234567890bc";
    private const string AdminToken = "pgv_basebackups-admin-0123456789abcdefghijklmn";
    private const string ScopedToken = "pgv_basebackups-scoped-0123456789abcdefghijklm";
    private const string Chain = "00000000000000a1";
    private static readonly string BackupId = $"{Cluster}-{Chain}-15";
    private static readonly DateTimeOffset T0 = new(2026, 11, 2, 9, 0, 0, TimeSpan.Zero);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<ApiServer> StartAsync(string name)
    {
        var server = await ApiServer.StartAsync(name, new Dictionary<string, string?>
        {
            ["PgVault:Clusters:0:Id"] = Cluster,
            ["PgVault:Clusters:0:ConnectionString"] = "Host=127.0.0.1;Username=backup",
            ["PgVault:Clusters:1:Id"] = Other,
            ["PgVault:Clusters:1:ConnectionString"] = "Host=127.0.0.1;Username=backup",
            ["PgVault:Tokens:0:Name"] = "admin",
            ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(AdminToken),
            ["PgVault:Tokens:0:Clusters:0"] = "*",
            ["PgVault:Tokens:1:Name"] = "scoped",
            ["PgVault:Tokens:1:TokenHash"] = TokenHasher.Hash(ScopedToken),
            ["PgVault:Tokens:1:Clusters:0"] = Other,
            ["PgVault:RateLimit:PermitsPerSecond"] = "0",
        });
        await server.Catalog.SaveBackupsAsync([new BackupRecord
        {
            Id = BackupId, ClusterId = Cluster, CreatedDate = T0, State = BackupState.Available, Version = "15", IsActive = true,
            Location = "local", SizeBytes = 3 << 20,
        }], Ct);
        // Oldest first: complete (kept, annotated), failed, running.
        await server.Catalog.SaveBaseBackupAsync(new BaseBackupRecord
        {
            BackupId = BackupId, Label = "20261102T090000000Z", State = BaseBackupState.Complete, Timeline = 1, StartLsn = 0x2000028,
            EndLsn = 0x2000138, StartedAt = T0, CompletedAt = T0.AddSeconds(12.5), SizeBytes = 1234, DatabaseBytes = 56789,
        }, Ct);
        await server.Catalog.SaveBaseBackupAsync(new BaseBackupRecord
        {
            BackupId = BackupId, Label = "20261102T100000000Z", State = BaseBackupState.Failed, Timeline = 1, StartedAt = T0.AddHours(1),
            Error = "pg_basebackup failed",
        }, Ct);
        await server.Catalog.SaveBaseBackupAsync(new BaseBackupRecord
        {
            BackupId = BackupId, Label = "20261102T110000000Z", State = BaseBackupState.Running, Timeline = 2, StartLsn = 0x5000028,
            StartedAt = T0.AddHours(2),
        }, Ct);
        var store = server.Services.GetRequiredService<LocationStores>().Get("local");
        await new ChainRepository(store, Cluster, Chain).WriteAnnotationAsync(new BaseBackupAnnotation
        {
            Label = "20261102T090000000Z", Keep = true, UpdatedAt = T0.AddDays(1),
            Annotations = new Dictionary<string, string>(StringComparer.Ordinal) { ["ticket"] = "OPS-42", ["purpose"] = "year-end audit" },
        }, Ct);
        return server;
    }

    [Fact]
    public async Task The_base_backups_of_a_backup_are_listed_newest_first_in_the_IONOS_envelope()
    {
        await using var server = await StartAsync("basebackups-list");
        using var admin = server.Client(AdminToken);
        foreach (var prefix in new[] { "", "/databases/postgresql" })
        {
            var (status, body, response) = await Json.GetAsync(admin, $"{prefix}/clusters/backups/{BackupId}/basebackups");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
            var json = Json.Parse(body);
            Assert.Empty(Json.NullPaths(json));
            Assert.Equal("collection", json["type"]!.GetValue<string>());
            Assert.Equal(BackupId, json["id"]!.GetValue<string>());
            Assert.Equal(0, json["offset"]!.GetValue<int>());
            Assert.Equal(100, json["limit"]!.GetValue<int>());
            var self = $"{server.BaseAddress.ToString().TrimEnd('/')}{prefix}/clusters/backups/{BackupId}/basebackups?offset=0&limit=100";
            Assert.Equal(self, json["links"]!["self"]!.GetValue<string>());
            Assert.Equal(self, json["_links"]!["self"]!.GetValue<string>());
            Assert.Null(json["links"]!["prev"]);
            Assert.Null(json["links"]!["next"]);
            var items = json["items"]!.AsArray();
            Assert.Equal(["20261102T110000000Z", "20261102T100000000Z", "20261102T090000000Z"], items.Select(i => i!["id"]!.GetValue<string>()));

            var running = items[0]!;
            Assert.Equal("basebackup", running["type"]!.GetValue<string>());
            Assert.Equal("BUSY", running["metadata"]!["state"]!.GetValue<string>());
            Assert.Equal("2026-11-02T11:00:00Z", running["metadata"]!["createdDate"]!.GetValue<string>());
            Assert.Equal("0/5000028", running["properties"]!["startLsn"]!.GetValue<string>());
            Assert.Equal(2, running["properties"]!["timeline"]!.GetValue<int>());
            Assert.Null(running["properties"]!["stopTime"]);
            Assert.Null(running["properties"]!["stopLsn"]);
            Assert.False(running["properties"]!["keep"]!.GetValue<bool>());
            Assert.Null(running["properties"]!["annotations"]);

            var failed = items[1]!;
            Assert.Equal("FAILED", failed["metadata"]!["state"]!.GetValue<string>());
            Assert.Equal("pg_basebackup failed", failed["properties"]!["error"]!.GetValue<string>());

            var complete = items[2]!["properties"]!;
            Assert.Equal("AVAILABLE", items[2]!["metadata"]!["state"]!.GetValue<string>());
            Assert.Equal("20261102T090000000Z", complete["label"]!.GetValue<string>());
            Assert.Equal(BackupId, complete["backupId"]!.GetValue<string>());
            Assert.Equal("full", complete["type"]!.GetValue<string>());
            Assert.Equal(1, complete["timeline"]!.GetValue<int>());
            Assert.Equal("2026-11-02T09:00:00Z", complete["startTime"]!.GetValue<string>());
            Assert.Equal("2026-11-02T09:00:12Z", complete["stopTime"]!.GetValue<string>());
            Assert.Equal("0/2000028", complete["startLsn"]!.GetValue<string>());
            Assert.Equal("0/2000138", complete["stopLsn"]!.GetValue<string>());
            Assert.Equal(1234, complete["storedBytes"]!.GetValue<long>());
            Assert.Equal(56789, complete["databaseBytes"]!.GetValue<long>());
            Assert.Equal(12.5, complete["durationSeconds"]!.GetValue<double>());
            Assert.True(complete["keep"]!.GetValue<bool>());
            Assert.Equal("OPS-42", complete["annotations"]!["ticket"]!.GetValue<string>());
            Assert.Equal("year-end audit", complete["annotations"]!["purpose"]!.GetValue<string>());

            var (one, oneBody, _) = await Json.GetAsync(admin, $"{prefix}/clusters/backups/{BackupId}/basebackups/20261102T090000000Z");
            Assert.Equal(HttpStatusCode.OK, one);
            Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(items[2], Json.Parse(oneBody)), oneBody);
        }
    }

    [Fact]
    public async Task The_listing_pages_like_the_IONOS_lists()
    {
        await using var server = await StartAsync("basebackups-page");
        using var admin = server.Client(AdminToken);
        var (status, body, _) = await Json.GetAsync(admin, $"/clusters/backups/{BackupId}/basebackups?offset=1&limit=1");
        Assert.Equal(HttpStatusCode.OK, status);
        var json = Json.Parse(body);
        Assert.Equal("20261102T100000000Z", Assert.Single(json["items"]!.AsArray())!["id"]!.GetValue<string>());
        var url = $"{server.BaseAddress.ToString().TrimEnd('/')}/clusters/backups/{BackupId}/basebackups";
        Assert.Equal($"{url}?offset=0&limit=1", json["links"]!["prev"]!.GetValue<string>());
        Assert.Equal($"{url}?offset=2&limit=1", json["links"]!["next"]!.GetValue<string>());

        var beyond = Json.Parse((await Json.GetAsync(admin, $"/clusters/backups/{BackupId}/basebackups?offset=3")).Body);
        Assert.Empty(beyond["items"]!.AsArray());
        var (bad, badBody, _) = await Json.GetAsync(admin, $"/clusters/backups/{BackupId}/basebackups?limit=0");
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Equal("PGV-0101", Json.Parse(badBody)["messages"]![0]!["errorCode"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_principal_sees_the_base_backups_exactly_when_it_sees_the_backup()
    {
        await using var server = await StartAsync("basebackups-auth");
        using var scoped = server.Client(ScopedToken);
        using var anonymous = server.Client();
        using var admin = server.Client(AdminToken);
        var (backupStatus, backupBody, _) = await Json.GetAsync(scoped, $"/clusters/backups/{BackupId}");
        Assert.Equal(HttpStatusCode.NotFound, backupStatus);
        foreach (var url in new[] { $"/clusters/backups/{BackupId}/basebackups", $"/clusters/backups/{BackupId}/basebackups/20261102T090000000Z" })
        {
            var (status, body, _) = await Json.GetAsync(scoped, url);
            Assert.Equal(HttpStatusCode.NotFound, status);
            Assert.Equal(backupBody, body); // the same ErrorResponse as for the backup: nothing tells it exists
            Assert.Equal(HttpStatusCode.Unauthorized, (await Json.GetAsync(anonymous, url)).Status);
        }

        var unknown = $"{Cluster}-00000000000000ff-15";
        var (u, uBody, _) = await Json.GetAsync(admin, $"/clusters/backups/{unknown}/basebackups");
        Assert.Equal(HttpStatusCode.NotFound, u);
        Assert.Equal((await Json.GetAsync(admin, $"/clusters/backups/{unknown}")).Body, uBody);
        var (l, lBody, _) = await Json.GetAsync(admin, $"/clusters/backups/{BackupId}/basebackups/20991231T000000000Z");
        Assert.Equal(HttpStatusCode.NotFound, l);
        Assert.Contains("base backup '20991231T000000000Z'", lBody, StringComparison.Ordinal);
        Assert.Equal("PGV-0105", Json.Parse(lBody)["messages"]![0]!["errorCode"]!.GetValue<string>());
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Text;
using PgVault.Api.Auth;
using PgVault.Security;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>The audit log: state-changing requests and failed authentications, with principal, address, cluster and outcome.</summary>
public sealed class AuditLogTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static IReadOnlyList<string> AuditLines(ApiServer server) =>
        server.Logs.Lines.Where(l => l.Contains(" " + Audit.Category + ":", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task State_changing_requests_and_failed_logins_are_audited_with_their_fields()
    {
        const string password = "audit-Pw-Ibex-2290";
        await using var server = await ApiServer.StartAsync("audit", new Dictionary<string, string?>
        {
            ["PgVault:Clusters:0:Id"] = SeededApi.ClusterA,
            ["PgVault:Clusters:0:ConnectionString"] = "Host=127.0.0.1;Username=backup",
            ["PgVault:Users:0:Name"] = "alice",
            ["PgVault:Users:0:PasswordHash"] = PasswordHasher.Hash(password, PasswordHasher.MinIterations),
            ["PgVault:Users:0:Clusters:0"] = "*",
            ["PgVault:Tokens:0:Name"] = "ops",
            ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(SeededApi.AdminToken),
            ["PgVault:Tokens:0:Clusters:0"] = "*",
        });
        using var ops = server.Client(SeededApi.AdminToken);
        // The engine is off in API tests: the backup is refused (422), and that is what the audit records.
        using (var response = await ops.PostAsync(new Uri($"/clusters/{SeededApi.ClusterA}/backups", UriKind.Relative), null, Ct))
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        using (var body = new StringContent("""{"backupId":"nope"}""", Encoding.UTF8, "application/json"))
        using (var response = await ops.PostAsync(new Uri($"/databases/postgresql/clusters/{SeededApi.ClusterA}/restore", UriKind.Relative), body, Ct))
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        using var wrong = server.Client(new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"alice:{password}x"))));
        using (var response = await wrong.PostAsync(new Uri($"/clusters/{SeededApi.ClusterA}/backups", UriKind.Relative), null, Ct))
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using var badToken = server.Client("pgv_not-a-token");
        Assert.Equal(HttpStatusCode.Unauthorized, (await Json.GetAsync(badToken, "/clusters")).Status);
        // Reads are not audited.
        Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(ops, "/clusters")).Status);

        var lines = AuditLines(server);
        string Line(params string[] parts) =>
            lines.SingleOrDefault(l => parts.All(p => l.Contains(p, StringComparison.Ordinal)))
            ?? throw new Xunit.Sdk.XunitException($"no single audit line with {string.Join(", ", parts)}:\n{string.Join("\n", lines)}");

        Line("Action=backup.start", $"Cluster={SeededApi.ClusterA}", "Principal=ops", "ClientAddress=127.0.0.1", "Outcome=refused", "Status=422");
        Line("Action=restore.start", $"Cluster={SeededApi.ClusterA}", "Principal=ops", "ClientAddress=127.0.0.1", "Outcome=refused", "Status=404");
        Line("Action=backup.start", "Principal=-", "Status=401");
        Line("authentication failed", "Principal=alice", "Scheme=Basic", "ClientAddress=127.0.0.1", "Outcome=invalid username or password");
        Line("authentication failed", "Scheme=Bearer", "Outcome=invalid or revoked token");
        Assert.Equal(5, lines.Count);
        Assert.DoesNotContain(lines, l => l.Contains(password, StringComparison.Ordinal) || l.Contains("pgv_not-a-token", StringComparison.Ordinal));
    }
}

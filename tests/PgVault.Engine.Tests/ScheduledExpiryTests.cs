using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary><c>serve</c> runs expiry on <c>Engine:ExpirySchedule</c> (every minute here) and logs one line per run.</summary>
public sealed class ScheduledExpiryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Serve_expires_on_its_schedule_and_logs_the_run()
    {
        using var data = new TempDirectory("scheduled-expiry");
        // What is a day old without waiting a day: a base backup that never completed, last written three days ago,
        // of a cluster that is not configured (no PostgreSQL needed; its chain is inactive and recent, so only the
        // abandoned base backup goes).
        var clusterId = Guid.NewGuid().ToString();
        var chain = Path.Combine(data.Path, "repository", "clusters", clusterId, "chains", "sched001");
        Directory.CreateDirectory(chain);
        await File.WriteAllTextAsync(Path.Combine(chain, "chain.json"),
            $$"""{"backupId":"{{clusterId}}-sched001-15","clusterId":"{{clusterId}}","chainId":"sched001","systemIdentifier":"1","timeline":1,"startLsn":"0/1000000","createdAt":"{{DateTimeOffset.UtcNow:O}}","postgresMajor":"15","location":"local"}""",
            Ct);
        var failed = Path.Combine(chain, "base", "20260101T000000000Z");
        Directory.CreateDirectory(failed);
        var part = Path.Combine(failed, "data.00000.tar.zst");
        await File.WriteAllBytesAsync(part, new byte[777], Ct);
        File.SetLastWriteTimeUtc(part, DateTime.UtcNow.AddDays(-3));

        await using var server = await ApiServer.StartAsync("scheduled-expiry", new Dictionary<string, string?>
        {
            ["PgVault:Engine:Enabled"] = "true",
            ["PgVault:Engine:ExpirySchedule"] = "* * * * *",
            ["PgVault:RateLimit:PermitsPerSecond"] = "0",
        }, dataDirectory: data);
        await Wait.UntilAsync(() => Task.FromResult(server.Logs.Lines.Any(l => l.Contains("expire: 1 objects, 777 bytes deleted", StringComparison.Ordinal))),
            TimeSpan.FromSeconds(90), "the scheduled expiry run's log line");
        Assert.False(File.Exists(part));
        Assert.True(File.Exists(Path.Combine(chain, "chain.json")));
    }
}

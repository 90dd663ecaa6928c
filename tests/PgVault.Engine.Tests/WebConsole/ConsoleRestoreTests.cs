using System.Globalization;
using PgVault.Catalog;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests.WebConsole;

/// <summary>"Restore to this point" in the browser: a point typed on the cluster's page, confirmed, followed to its end.</summary>
[Trait("Category", "Postgres")]
[Trait("Category", "Browser")]
public sealed class ConsoleRestoreTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_restore_to_a_point_chosen_on_the_page_ends_with_the_data_of_that_point()
    {
        using var browser = Browser.Start();
        await using var pg = await PostgresCluster.StartAsync("console-restore", ct: Ct);
        await pg.ExecuteAsync("CREATE TABLE marker (n int PRIMARY KEY)", ct: Ct);
        var clusterId = Guid.NewGuid().ToString();
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:Clusters:0:DisplayName"] = "restore-me";
        settings["PgVault:Clusters:0:DataDirectory"] = pg.DataDirectory;
        await using var server = await ApiServer.StartAsync("console-restore", settings);
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available, Bounded,
            "the first base backup");

        // Markers 1-3, a whole second of the server's clock later the target, then markers 4-6 (the page's times are
        // whole seconds).
        await pg.ExecuteAsync("INSERT INTO marker VALUES (1), (2), (3)", ct: Ct);
        var afterThree = await Pg.ScalarAsync<DateTime>(pg, "SELECT clock_timestamp() AT TIME ZONE 'UTC'");
        var target = new DateTime(afterThree.Ticks - (afterThree.Ticks % TimeSpan.TicksPerSecond) + TimeSpan.TicksPerSecond, DateTimeKind.Utc);
        await Wait.UntilAsync(async () => await Pg.ScalarAsync<DateTime>(pg, "SELECT clock_timestamp() AT TIME ZONE 'UTC'") > target.AddSeconds(0.5),
            Bounded, "the server's clock to pass the target");
        await pg.ExecuteAsync("INSERT INTO marker VALUES (4), (5), (6)", ct: Ct);
        var lsn = await Pg.InsertLsnAsync(pg);
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.EndLsn >= lsn.Value, Bounded,
            $"the repository's WAL to reach {lsn}");
        var first = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.Id;

        browser.SignIn(server.BaseAddress, StreamingAndBaseBackupTests.Token);
        browser.Open(new Uri(server.BaseAddress, $"/ui/#/clusters/{clusterId}"));
        browser.Until(() => browser.Visible("#cluster") && browser.FindAll("#timeline rect.window").Count > 0, "the timeline");
        var targetText = target.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        var iso = target.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var input = browser.Find("#point-time");
        input.Clear();
        input.SendKeys(targetText + OpenQA.Selenium.Keys.Enter);
        browser.Until(() => browser.Text("#point-text").Contains("a restore there starts from base backup", StringComparison.Ordinal),
            "the chosen point inside the window");
        Assert.StartsWith(targetText + " UTC (local ", browser.Text("#point-text"), StringComparison.Ordinal);

        browser.Find("#restore-here").Click();
        browser.Until(() => browser.Visible("#confirm"), "the confirmation");
        var confirmation = browser.Text("#confirm-text");
        Assert.Contains($"Cluster restore-me ({clusterId})", confirmation, StringComparison.Ordinal);
        Assert.Contains($"to {targetText} UTC (your local time: ", confirmation, StringComparison.Ordinal);
        Assert.Contains(first, confirmation, StringComparison.Ordinal);
        browser.Screenshot("restore-confirm");
        browser.Find("#confirm-ok").Click();

        browser.Until(() => browser.Text("#action-status").Contains("BUSY", StringComparison.Ordinal)
                            || browser.Text("#action-status").Contains("finished", StringComparison.Ordinal), "the restore to be followed");
        browser.Until(() => browser.Text("#action-status").Contains($"Restore to {iso} finished", StringComparison.Ordinal),
            "the restore to finish: " + string.Join(" | ", server.Logs.Lines.Where(l => l.Contains("restore", StringComparison.OrdinalIgnoreCase)).TakeLast(5)),
            TimeSpan.FromMinutes(4));
        Npgsql.NpgsqlConnection.ClearAllPools(); // the cluster was restarted
        Assert.Equal(3L, await Pg.ScalarAsync<long>(pg, "SELECT count(*) FROM marker"));
        Assert.Equal(3, await Pg.ScalarAsync<int>(pg, "SELECT max(n) FROM marker"));
        // The old backup is listed as older, the new one as active.
        browser.Until(() => browser.Text("#timeline").Contains("older backup " + first, StringComparison.Ordinal), "the old backup as an older one");

        // The old backup's WAL ended when the restore paused streaming: its window ends there, as the cluster's history
        // recorded it (not about where the new backup starts), and the pause is an interruption of the history.
        var periods = await server.Catalog.ListClusterPeriodsAsync(clusterId, DateTimeOffset.UnixEpoch, 100, Ct);
        var ended = Assert.Single(periods, p => p.Kind == ClusterPeriodRecord.Ended);
        Assert.Equal(first, ended.BackupId);
        var replacement = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!;
        Assert.True(ended.Start < replacement.CreatedDate, $"the old backup ended at {ended.Start:O}, the new one began at {replacement.CreatedDate:O}");
        Assert.Contains(periods, p => p is { Kind: ClusterPeriodRecord.Interrupted } && p.Reason.Contains("paused for a restore", StringComparison.Ordinal)
                                      && p.Start <= ended.Start);
        var endText = ended.Start.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);
        browser.Until(() => (browser.Script("return document.querySelector('#timeline rect.window.inactive title')?.textContent ?? '';") as string ?? "")
            .EndsWith(" to " + endText, StringComparison.Ordinal), "the old backup's window to end where its WAL ended");
        Assert.Contains("paused for a restore", browser.Text("#history li[data-kind='interrupted']"), StringComparison.Ordinal);
        browser.Screenshot("restore-finished");
        Assert.Empty(browser.Problems());
    }
}

using System.Globalization;
using System.Text.Json.Nodes;
using OpenQA.Selenium;
using OpenQA.Selenium.Interactions;
using PgVault.Catalog;
using PgVault.Security;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests.WebConsole;

/// <summary>
/// A real PostgreSQL cluster backed up by <c>serve</c>, and a second configured cluster that cannot be reached (so the
/// overview has two states to show). Two principals: the test token (every cluster) and one granted the second only.
/// Once backed up, the cluster's PostgreSQL is stopped until its backup is DEGRADED (a 2 s threshold) and started again,
/// so its history holds an interruption.
/// </summary>
public sealed class ConsoleCluster : IAsyncLifetime
{
    public const string OtherToken = "pgv_console-other-0123456789abcdefghijklmnopqr";
    public const string DisplayName = "orders-db";

    private PostgresCluster? _pg;
    private ApiServer? _server;

    public string ClusterId { get; } = Guid.NewGuid().ToString();

    public string OtherClusterId { get; } = Guid.NewGuid().ToString();

    public PostgresCluster Postgres => _pg ?? throw new InvalidOperationException("not started");

    public ApiServer Server => _server ?? throw new InvalidOperationException("not started");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _pg = await PostgresCluster.StartAsync("console", ct: Ct);
        await Pg.PgbenchAsync(Postgres, "-i", "-s", "1", "-q");
        var settings = StreamingAndBaseBackupTests.Settings(ClusterId, Postgres);
        settings["PgVault:Clusters:0:DisplayName"] = DisplayName;
        settings["PgVault:Clusters:1:Id"] = OtherClusterId;
        settings["PgVault:Clusters:1:DisplayName"] = "billing-db";
        settings["PgVault:Clusters:1:ConnectionString"] = "Host=127.0.0.1;Port=1;Username=postgres;Timeout=1";
        settings["PgVault:Clusters:1:BaseBackupSchedule"] = "0 0 1 1 *";
        settings["PgVault:Tokens:1:Name"] = "billing";
        settings["PgVault:Tokens:1:TokenHash"] = TokenHasher.Hash(OtherToken);
        settings["PgVault:Tokens:1:Clusters:0"] = OtherClusterId;
        settings["PgVault:Engine:WalLagThreshold"] = "00:00:02";
        _server = await ApiServer.StartAsync("console", settings);
        await Wait.UntilAsync(async () => (await Server.Catalog.GetActiveBackupAsync(ClusterId, Ct))?.State == BackupState.Available,
            TimeSpan.FromSeconds(180), "the first base backup");
        var active = (await Server.Catalog.GetActiveBackupAsync(ClusterId, Ct))!;
        await Wait.UntilAsync(async () => (await Server.Catalog.ListBaseBackupsAsync(active.Id, Ct)).All(b => b.State != BaseBackupState.Running),
            TimeSpan.FromSeconds(180), "no base backup running");

        // PostgreSQL stopped and started again: an interruption, long enough for a DEGRADED period too.
        async Task<IReadOnlyList<ClusterPeriodRecord>> PeriodsAsync() =>
            await Server.Catalog.ListClusterPeriodsAsync(ClusterId, DateTimeOffset.UnixEpoch, 100, Ct);
        var (code, output) = await Postgres.RunPgRawAsync("pg_ctl", ["stop", "-m", "fast", "-w", "-D", Postgres.DataDirectory], Ct);
        Assert.True(code == 0, output);
        await Wait.UntilAsync(async () => (await PeriodsAsync()).Any(p => p is { Kind: ClusterPeriodRecord.Degraded, End: null }),
            TimeSpan.FromSeconds(60), "a DEGRADED period while PostgreSQL is down");
        (code, output) = await Postgres.RunPgRawAsync("pg_ctl",
            ["start", "-w", "-D", Postgres.DataDirectory, "-o", $"-p {Postgres.Port}", "-l", Postgres.LogFile], Ct);
        Assert.True(code == 0, output);
        await Wait.UntilAsync(async () => (await PeriodsAsync()) is { Count: > 0 } periods && periods.All(p => p.End is not null)
                                          && (await Server.Catalog.GetActiveBackupAsync(ClusterId, Ct))?.State == BackupState.Available,
            TimeSpan.FromSeconds(90), "the periods to end and the backup to be AVAILABLE once streaming resumes");
    }

    /// <summary>The cluster's active backup as the API shows it.</summary>
    public async Task<JsonNode> ActiveBackupAsync()
    {
        using var http = Server.Client(StreamingAndBaseBackupTests.Token);
        var list = JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/{ClusterId}/backups", UriKind.Relative), Ct))!;
        return list["items"]!.AsArray().First(b => b!["properties"]!["isActive"]!.GetValue<bool>())!;
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
            await _server.DisposeAsync();
        if (_pg is not null)
            await _pg.DisposeAsync();
    }
}

/// <summary>The web console in Debian's Chromium against a real backed-up cluster: what a newcomer sees and does.</summary>
[Trait("Category", "Postgres")]
[Trait("Category", "Browser")]
public sealed class ConsoleBrowserTests(ConsoleCluster fixture) : IClassFixture<ConsoleCluster>
{
    private static string Utc(string iso) =>
        DateTimeOffset.Parse(iso, CultureInfo.InvariantCulture).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    private string Row => $"#clusters tr[data-cluster='{fixture.ClusterId}']";

    [Fact]
    public async Task Signing_in_shows_the_backed_up_cluster_with_its_recovery_window()
    {
        using var browser = Browser.Start();
        browser.SignIn(fixture.Server.BaseAddress, StreamingAndBaseBackupTests.Token);
        browser.Until(() => browser.Visible(Row), "the cluster's row");
        var active = await fixture.ActiveBackupAsync();
        var windowStart = Utc(active["properties"]!["earliestRecoveryTargetTime"]!.GetValue<string>());

        browser.Until(() => !browser.Text(Row + " td.last-base-backup").Contains('…', StringComparison.Ordinal), "the last base backup");
        var row = browser.Text(Row);
        Assert.Contains(ConsoleCluster.DisplayName, row, StringComparison.Ordinal);
        Assert.Contains("AVAILABLE", row, StringComparison.Ordinal);
        Assert.Contains(windowStart, row, StringComparison.Ordinal);
        // The window's end and the WAL lag come from the backup engine: the history is durable up to a moment ago.
        browser.Until(() => browser.Text(Row + " td.window-end").Contains("WAL lag", StringComparison.Ordinal), "the WAL lag");
        var end = browser.Text(Row + " td.window-end");
        var endTime = DateTimeOffset.ParseExact(end[..19], "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        Assert.InRange(endTime, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.Contains("local", row, StringComparison.Ordinal);
        Assert.Contains("full", browser.Text(Row + " td.last-base-backup"), StringComparison.Ordinal);
        Assert.Equal("15", browser.Text(Row + " td[data-label='PostgreSQL']"));
        // The state has a colour as well as its text.
        var badge = browser.Find(Row + " .state");
        Assert.Contains("state-AVAILABLE", badge.GetDomAttribute("class"), StringComparison.Ordinal);
        Assert.Equal("rgba(227, 244, 232, 1)", badge.GetCssValue("background-color"));
        Assert.Equal(2, browser.FindAll("#clusters tbody tr").Count);
        Assert.Equal("2 clusters", browser.Text("#overview-summary"));

        // Filtering and sorting work on the page, without asking the server again.
        browser.Find("#filter").SendKeys("billing");
        browser.Until(() => browser.FindAll("#clusters tbody tr").Count == 1 && !browser.Visible(Row), "the filter to leave one row");
        browser.Find("#filter").SendKeys(Keys.Control + "a");
        browser.Find("#filter").SendKeys(Keys.Backspace); // as a user deletes it (an input event; Clear() sends none)
        browser.Until(() => browser.FindAll("#clusters tbody tr").Count == 2, "the filter cleared");
        browser.Find("#clusters th[data-sort='name'] button").Click();
        browser.Until(() => browser.Find("#clusters th[data-sort='name']").GetDomAttribute("aria-sort") == "descending", "the sort by name reversed");
        Assert.Contains(ConsoleCluster.DisplayName, browser.FindAll("#clusters tbody tr")[0].Text, StringComparison.Ordinal);

        browser.Screenshot("overview");
        Assert.Empty(browser.Problems());
    }

    [Fact]
    public void Another_principal_does_not_see_the_cluster()
    {
        using var browser = Browser.Start();
        browser.SignIn(fixture.Server.BaseAddress, ConsoleCluster.OtherToken);
        browser.Until(() => browser.FindAll("#clusters tbody tr").Count == 1, "the one granted cluster");
        Assert.Equal("1 cluster", browser.Text("#overview-summary"));
        Assert.Empty(browser.FindAll(Row));
        Assert.DoesNotContain(fixture.ClusterId, browser.Driver.PageSource, StringComparison.Ordinal);
        Assert.DoesNotContain(ConsoleCluster.DisplayName, browser.Driver.PageSource, StringComparison.Ordinal);
        Assert.Contains("billing", browser.Text("#who"), StringComparison.Ordinal);
        Assert.Empty(browser.Problems());

        // Asked for by its id, the cluster does not exist for this principal.
        browser.Open(new Uri(fixture.Server.BaseAddress, $"/ui/#/clusters/{fixture.ClusterId}"));
        browser.Until(() => browser.Text("#cluster-title") == "Cluster not found", "the cluster to be not found");
        Assert.DoesNotContain(ConsoleCluster.DisplayName, browser.Driver.PageSource, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_engines_status_of_a_cluster_is_given_only_to_principals_granted_it()
    {
        var query = $"/ui/api/status?cluster={fixture.ClusterId}&cluster={fixture.OtherClusterId}";
        using var admin = fixture.Server.Client(StreamingAndBaseBackupTests.Token);
        var all = JsonNode.Parse(await admin.GetStringAsync(new Uri(query, UriKind.Relative), TestContext.Current.CancellationToken))!;
        var item = Assert.Single(all["items"]!.AsArray())!; // the unreachable cluster has no backup yet: nothing to tell
        Assert.Equal(fixture.ClusterId, item["clusterId"]!.GetValue<string>());
        Assert.True(item["streaming"]!.GetValue<bool>());
        Assert.NotNull(item["windowEnd"]);

        using var other = fixture.Server.Client(ConsoleCluster.OtherToken);
        var mine = JsonNode.Parse(await other.GetStringAsync(new Uri(query, UriKind.Relative), TestContext.Current.CancellationToken))!;
        Assert.Empty(mine["items"]!.AsArray());
    }

    [Fact]
    public void Back_up_now_adds_a_base_backup_to_the_timeline()
    {
        using var browser = Browser.Start();
        browser.SignIn(fixture.Server.BaseAddress, StreamingAndBaseBackupTests.Token);
        browser.Until(() => browser.Visible(Row), "the cluster's row");
        browser.Find(Row + " a").Click();
        browser.Until(() => browser.Visible("#cluster") && browser.FindAll("#timeline rect.mark").Count > 0, "the timeline with base backups");
        Assert.Equal(ConsoleCluster.DisplayName, browser.Text("#cluster-title"));
        var before = browser.FindAll("#chains tbody tr").Count;
        var marksBefore = browser.FindAll("#timeline rect.mark").Count;

        // Hovering the window tells what a restore there would start from.
        var window = browser.Find("#timeline rect.window");
        new Actions(browser.Driver).MoveToElement(window, (window.Size.Width / 2) - 3, 0).Perform();
        browser.Until(() => browser.Visible("#tooltip"), "the tooltip");
        Assert.Matches("^[0-9-]{10} [0-9:]{8} UTC · local .+ — restore starts from full base backup [0-9TZ]+$", browser.Text("#tooltip"));

        browser.Find("#backup-now").Click();
        browser.Until(() => browser.Text("#action-status").EndsWith("AVAILABLE", StringComparison.Ordinal)
                            && browser.FindAll("#chains tbody tr").Count == before + 1,
            "the new base backup to be AVAILABLE and listed", TimeSpan.FromSeconds(180));
        browser.Until(() => browser.FindAll("#timeline rect.mark").Count == marksBefore + 1, "the new base backup on the timeline");
        Assert.Contains("AVAILABLE", browser.FindAll("#chains tbody tr")[0].Text, StringComparison.Ordinal);

        // A point chosen with the keyboard: the newest base backup is where a restore to now starts.
        // (Times are whole seconds: within the second the new base backup ended, a restore still starts from the one before.)
        var newest = browser.FindAll("#chains tbody tr")[0].FindElement(By.CssSelector("td")).Text;
        browser.Until(() =>
        {
            browser.Find("#timeline").SendKeys(Keys.End);
            return browser.Text("#point-text").Contains($"starts from base backup {newest}", StringComparison.Ordinal);
        }, "a restore to now to start from the new base backup");
        Assert.True(browser.Find("#restore-here").Enabled);

        browser.Screenshot("timeline");
        Assert.Empty(browser.Problems());
    }

    [Fact]
    public async Task PostgreSQL_stopped_and_started_again_shows_an_interrupted_period_on_the_timeline()
    {
        // The history as the API tells it: the interruption and the DEGRADED period, both over, newest first.
        using (var http = fixture.Server.Client(StreamingAndBaseBackupTests.Token))
        {
            var history = JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/{fixture.ClusterId}/history", UriKind.Relative),
                TestContext.Current.CancellationToken))!;
            Assert.Equal(fixture.ClusterId, history["id"]!.GetValue<string>());
            var items = history["items"]!.AsArray().Select(i => i!).ToList();
            var interrupted = Assert.Single(items, i => i["kind"]!.GetValue<string>() == "interrupted");
            var degraded = Assert.Single(items, i => i["kind"]!.GetValue<string>() == "degraded");
            var start = DateTimeOffset.Parse(interrupted["start"]!.GetValue<string>(), CultureInfo.InvariantCulture);
            var end = DateTimeOffset.Parse(interrupted["end"]!.GetValue<string>(), CultureInfo.InvariantCulture);
            Assert.InRange((end - start).TotalSeconds, 2, 90);
            Assert.StartsWith("WAL streaming interrupted: ", interrupted["reason"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Equal((await fixture.ActiveBackupAsync())["id"]!.GetValue<string>(), interrupted["backupId"]!.GetValue<string>());
            Assert.InRange(DateTimeOffset.Parse(degraded["start"]!.GetValue<string>(), CultureInfo.InvariantCulture), start, end);
            Assert.NotNull(degraded["end"]);
        }

        // Authorised as the cluster's backups: another principal is told it does not exist.
        using (var other = fixture.Server.Client(ConsoleCluster.OtherToken))
        {
            var answer = await other.GetAsync(new Uri($"/clusters/{fixture.ClusterId}/history", UriKind.Relative), TestContext.Current.CancellationToken);
            Assert.Equal(System.Net.HttpStatusCode.NotFound, answer.StatusCode);
        }

        using var browser = Browser.Start();
        browser.SignIn(fixture.Server.BaseAddress, StreamingAndBaseBackupTests.Token);
        browser.Open(new Uri(fixture.Server.BaseAddress, $"/ui/#/clusters/{fixture.ClusterId}"));
        browser.Until(() => browser.Visible("#cluster") && browser.FindAll("#timeline rect.period-interrupted").Count == 1, "the interruption on the timeline");
        Assert.Single(browser.FindAll("#timeline rect.period-degraded"));
        Assert.Contains("streaming interrupted", browser.Text("#timeline .legend"), StringComparison.Ordinal);

        // Hovering it tells when and why.
        new Actions(browser.Driver).MoveToElement(browser.Find("#timeline rect.period-interrupted")).Perform();
        browser.Until(() => browser.Visible("#tooltip") && browser.Text("#tooltip").Contains("streaming interrupted", StringComparison.Ordinal),
            "the interruption in the tooltip");
        Assert.Matches("streaming interrupted [0-9-]{10} [0-9:]{8} UTC to [0-9-]{10} [0-9:]{8} UTC: WAL streaming interrupted: ", browser.Text("#tooltip"));
        // And the page says it in words too.
        Assert.Contains("streaming interrupted", browser.Text("#history li[data-kind='interrupted']"), StringComparison.Ordinal);
        Assert.Contains("DEGRADED", browser.Text("#history li[data-kind='degraded']"), StringComparison.Ordinal);
        Assert.Empty(browser.Problems());
    }

    [Fact]
    public void The_pages_pass_axe_core_WCAG_2_AA_and_the_keyboard_reaches_the_actions()
    {
        using var browser = Browser.Start();
        browser.Open(new Uri(fixture.Server.BaseAddress, "/ui/"));
        browser.Until(() => browser.Visible("#sign-in"), "the sign-in form");
        // The checker is live: text below 4.5:1 put into the page is found, and gone with it.
        browser.Script("const p = document.createElement('p'); p.id = 'low-contrast'; p.textContent = 'faint'; p.style.color = '#b0b0b0'; "
                       + "document.getElementById('sign-in').append(p);");
        Assert.Contains(browser.AxeViolations(), v => v.StartsWith("color-contrast ", StringComparison.Ordinal) && v.Contains("#low-contrast", StringComparison.Ordinal));
        browser.Script("document.getElementById('low-contrast').remove();");
        browser.AssertAccessible("sign-in");
        var signInOrder = browser.TabOrder();
        Assert.Contains("#token", signInOrder);
        Assert.Contains("#sign-in-button", signInOrder);

        browser.SignIn(fixture.Server.BaseAddress, StreamingAndBaseBackupTests.Token);
        browser.Until(() => browser.Visible(Row) && !browser.Text(Row + " td.last-base-backup").Contains('…', StringComparison.Ordinal)
                            && browser.Text(Row + " td.window-end").Contains("WAL lag", StringComparison.Ordinal), "the overview loaded");
        browser.AssertAccessible("overview");
        var overviewOrder = browser.TabOrder();
        InOrder(overviewOrder, "#sign-out", "#filter", "#state-filter", "#sort", $"a:{ConsoleCluster.DisplayName}");

        // The cluster's page, reached and used with the keyboard alone.
        browser.Find(Row + " a").SendKeys(Keys.Enter);
        browser.Until(() => browser.Visible("#cluster") && browser.FindAll("#timeline rect.mark").Count > 0, "the timeline");
        browser.AssertAccessible("timeline");
        var clusterOrder = browser.TabOrder();
        InOrder(clusterOrder, "a:← All clusters", "#backup-now", "#timeline", "#point-time");
        browser.Find("#timeline").SendKeys(Keys.End); // a point chosen with the keyboard enables the restore
        browser.Until(() => browser.Find("#restore-here").Enabled, "the restore button enabled");
        InOrder(browser.TabOrder(), "#backup-now", "#timeline", "#point-time", "#restore-here");
        browser.AssertAccessible("timeline-with-a-point");
        Assert.Empty(browser.Problems());
    }

    private static void InOrder(IReadOnlyList<string> order, params string[] expected)
    {
        var at = -1;
        foreach (var e in expected)
        {
            var next = order.ToList().FindIndex(at + 1, o => o == e);
            Assert.True(next > at, $"Tab does not reach {e} after {(at < 0 ? "the start" : order[at])}; the order is: {string.Join(", ", order)}");
            at = next;
        }
    }

    [Fact]
    public void At_360_pixels_the_overview_fits_the_screen()
    {
        using var browser = Browser.Start(360, 800);
        browser.SignIn(fixture.Server.BaseAddress, StreamingAndBaseBackupTests.Token);
        browser.Until(() => browser.Visible(Row), "the cluster's row");
        var width = Convert.ToInt64(browser.Script("return document.documentElement.scrollWidth;"), CultureInfo.InvariantCulture);
        var viewport = Convert.ToInt64(browser.Script("return window.innerWidth;"), CultureInfo.InvariantCulture);
        Assert.Equal(360, viewport);
        Assert.True(width <= viewport, $"the page is {width} px wide in a {viewport} px window");
        browser.Screenshot("overview-360");
        Assert.Empty(browser.Problems());
    }
}

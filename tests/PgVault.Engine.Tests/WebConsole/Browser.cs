using System.Diagnostics;
using System.Text.Json;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests.WebConsole;

/// <summary>
/// Debian's headless Chromium (<c>/usr/bin/chromium</c>) driven through Debian's <c>chromedriver</c> with WebDriver:
/// nothing is downloaded. Missing, the test is skipped locally and fails on CI (test.sh installs both). Every wait is
/// bounded. Screenshots go to <c>screenshots/</c> beside the test binary, or to <c>PGVAULT_SCREENSHOTS</c>.
/// </summary>
public sealed class Browser : IDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";
    public const string DriverPath = "/usr/bin/chromedriver";
    public static readonly TimeSpan Bounded = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _profile;
    private readonly List<string> _consoleErrors = [];

    private Browser(ChromeDriver driver, TempDirectory profile)
    {
        Driver = driver;
        _profile = profile;
    }

    public ChromeDriver Driver { get; }

    public static string ScreenshotDirectory =>
        Environment.GetEnvironmentVariable("PGVAULT_SCREENSHOTS") is { Length: > 0 } dir ? dir : Path.Combine(AppContext.BaseDirectory, "screenshots");

    public static Browser Start(int width = 1280, int height = 900)
    {
        TestEnvironment.RequireOrSkip(File.Exists(ChromiumPath) && File.Exists(DriverPath),
            $"Chromium and its driver ({ChromiumPath}, {DriverPath}: apt-get install chromium chromium-driver)");
        // WebDriver's own driver manager is never asked: the paths are given, and it may not go online.
        Environment.SetEnvironmentVariable("SE_OFFLINE", "true");
        var profile = new TempDirectory("chromium-profile");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(DriverPath)!, Path.GetFileName(DriverPath));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = ChromiumPath };
        // As root (tests and CI) Chromium needs --no-sandbox; the network flags keep it from calling out of a closed network.
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", $"--user-data-dir={profile.Path}", $"--window-size={width},{height}",
            "--lang=en-US");
        options.SetLoggingPreference(LogType.Browser, LogLevel.All);
        try
        {
            var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
            // A window narrower than headless Chromium's smallest (500 px) is a phone's viewport, as DevTools emulates it.
            if (width < 500)
            {
                driver.ExecuteCdpCommand("Emulation.setDeviceMetricsOverride", new Dictionary<string, object?>
                {
                    ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = true,
                });
            }

            return new Browser(driver, profile);
        }
        catch
        {
            profile.Dispose();
            throw;
        }
    }

    public void Open(Uri url) => Driver.Navigate().GoToUrl(url);

    public IWebElement Find(string css) => Driver.FindElement(By.CssSelector(css));

    public IReadOnlyList<IWebElement> FindAll(string css) => Driver.FindElements(By.CssSelector(css));

    public bool Visible(string css) => FindAll(css) is { Count: > 0 } found && found[0].Displayed;

    public string Text(string css) => FindAll(css) is { Count: > 0 } found ? found[0].Text : "";

    public object? Script(string script, params object[] args) => Driver.ExecuteScript(script, args);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails naming <paramref name="what"/> (with a screenshot).</summary>
    public void Until(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? Bounded;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (condition())
                    return;
            }
            catch (StaleElementReferenceException)
            {
                // The page re-rendered the element between finding and reading it: look again.
            }

            if (clock.Elapsed > limit)
            {
                var shot = Screenshot("timeout-" + Guid.NewGuid().ToString("N", System.Globalization.CultureInfo.InvariantCulture)[..8]);
                Assert.Fail($"timed out after {limit.TotalSeconds:0} s waiting for {what} (screenshot {shot}); page problems: "
                            + string.Join("; ", Problems()));
            }

            Thread.Sleep(100);
        }
    }

    /// <summary>Signs in on the console's form with a token and waits for the overview.</summary>
    public void SignIn(Uri baseAddress, string token)
    {
        Open(new Uri(baseAddress, "/ui/"));
        Until(() => Visible("#sign-in"), "the sign-in form");
        Find("#token").SendKeys(token);
        Find("#sign-in-button").Click();
        Until(() => Visible("#overview") && Text("#overview-summary").Length > 0, "the overview after sign-in");
    }

    /// <summary>
    /// axe-core (npm, <c>tests/tools/node_modules/axe-core</c>, installed by test.sh), found by walking up from the test
    /// binary; null when absent.
    /// </summary>
    public static string? AxePath
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var script = Path.Combine(dir.FullName, "tests", "tools", "node_modules", "axe-core", "axe.min.js");
                if (File.Exists(script))
                    return script;
            }

            return null;
        }
    }

    /// <summary>
    /// Checks the page as it is now with axe-core's WCAG 2 A and AA rules (contrast, names, labels, ARIA, ...), and fails
    /// listing every violation with the elements it found it on. The script is injected through WebDriver, as a tool
    /// would, not served by PgVault (its Content-Security-Policy stays as it is).
    /// </summary>
    public void AssertAccessible(string page)
    {
        var violations = AxeViolations();
        if (violations.Count > 0)
        {
            Screenshot("axe-" + page);
            Assert.Fail($"WCAG 2 A/AA violations on the {page} page (axe-core):\n" + string.Join("\n", violations));
        }
    }

    /// <summary>axe-core's WCAG 2 A and AA violations of the page as it is now, each with the elements it found it on.</summary>
    public IReadOnlyList<string> AxeViolations()
    {
        var axe = AxePath;
        TestEnvironment.RequireOrSkip(axe is not null, "axe-core is not installed: run ./test.sh (npm ci in tests/tools)");
        if (Script("return typeof window.axe;") as string != "object")
            Script(File.ReadAllText(axe!));
        Driver.Manage().Timeouts().AsynchronousJavaScript = Bounded;
        var json = (string)Driver.ExecuteAsyncScript("""
            const done = arguments[arguments.length - 1];
            window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] }, resultTypes: ['violations'] })
              .then((r) => done(JSON.stringify(r.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`) })))))
              .catch((e) => done(JSON.stringify([{ id: 'axe-error', impact: 'error', help: String(e), nodes: [] }])));
            """)!;
        return JsonDocument.Parse(json).RootElement.EnumerateArray()
            .Select(v => $"{v.GetProperty("id").GetString()} ({v.GetProperty("impact").GetString()}): {v.GetProperty("help").GetString()} — "
                         + string.Join(" | ", v.GetProperty("nodes").EnumerateArray().Select(n => n.GetString())))
            .ToList();
    }

    /// <summary>
    /// The elements the Tab key reaches from the top of the page, in order (at most <paramref name="max"/> presses): each
    /// as its id, else its tag and text.
    /// </summary>
    public IReadOnlyList<string> TabOrder(int max = 60)
    {
        // Focus on the body moves the starting point of sequential focus navigation to the top of the page.
        Script("document.activeElement?.blur(); const b = document.body; b.tabIndex = -1; b.focus(); b.removeAttribute('tabindex'); window.scrollTo(0, 0);");
        var order = new List<string>();
        for (var i = 0; i < max; i++)
        {
            new OpenQA.Selenium.Interactions.Actions(Driver).SendKeys(Keys.Tab).Perform();
            var name = (string)Script("""
                const e = document.activeElement;
                if (!e || e === document.body) return '';
                return e.id ? '#' + e.id : `${e.tagName.toLowerCase()}:${(e.textContent || '').trim().slice(0, 40)}`;
                """)!;
            if (name.Length == 0 || (order.Count > 0 && name == order[0]))
                break; // back at the start
            order.Add(name);
        }

        return order;
    }

    public string Screenshot(string name)
    {
        Directory.CreateDirectory(ScreenshotDirectory);
        var path = Path.Combine(ScreenshotDirectory, name + ".png");
        Driver.GetScreenshot().SaveAsFile(path);
        return path;
    }

    /// <summary>
    /// What went wrong in the page: script errors, rejected promises and Content-Security-Policy violations the page itself
    /// recorded, and every error (SEVERE) entry of the browser's console log, failed requests included.
    /// </summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (Script("return window.pgvaultProblems || [];") is IEnumerable<object> recorded)
            problems.AddRange(recorded.Select(p => "page: " + p));
        // Reading the browser's log empties it: what was read is kept for the next call.
        _consoleErrors.AddRange(Driver.Manage().Logs.GetLog(LogType.Browser)
            .Where(e => e.Level >= LogLevel.Severe)
            .Select(e => "console: " + e.Message));
        problems.AddRange(_consoleErrors);
        return problems;
    }

    public void Dispose()
    {
        Driver.Quit();
        Driver.Dispose();
        _profile.Dispose();
    }
}

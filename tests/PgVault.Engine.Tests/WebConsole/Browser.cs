using System.Diagnostics;
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

using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PgVault.Catalog;
using PgVault.Hosting;
using Xunit;

namespace PgVault.Testing;

/// <summary>
/// <c>pgvault serve</c> as the CLI builds it, on Kestrel at a free loopback port, with its own data directory and
/// SQLite catalog, and every log line captured.
/// </summary>
public sealed class ApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TempDirectory _dir;
    private readonly bool _ownsDirectory;

    private ApiServer(WebApplication app, TempDirectory dir, bool ownsDirectory, CapturingLoggerProvider logs, string console)
    {
        _app = app;
        _dir = dir;
        _ownsDirectory = ownsDirectory;
        Logs = logs;
        ConsoleOutput = console;
        BaseAddress = new Uri(app.Urls.First());
    }

    public Uri BaseAddress { get; }

    public CapturingLoggerProvider Logs { get; }

    /// <summary>What the start-up printed (the zero-configuration admin token, for one).</summary>
    public string ConsoleOutput { get; }

    public string DataDirectory => _dir.Path;

    public ICatalog Catalog => _app.Services.GetRequiredService<ICatalog>();

    /// <summary>The server's services (its backup engine, options, stores), for tests that drive the engine directly.</summary>
    public IServiceProvider Services => _app.Services;

    /// <param name="dataDirectory">An existing data directory, which the caller keeps (and deletes); null for a new one
    /// that the server deletes when disposed.</param>
    /// <param name="urls">Kestrel URLs; default plain HTTP on a free loopback port.</param>
    public static async Task<ApiServer> StartAsync(string name, IDictionary<string, string?> settings,
        Action<WebApplication>? mapExtra = null, TempDirectory? dataDirectory = null, string urls = "http://127.0.0.1:0")
    {
        var dir = dataDirectory ?? new TempDirectory("api-" + name);
        var all = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            // API tests configure clusters that do not exist: no WAL streaming unless a test asks for it.
            ["PgVault:Engine:Enabled"] = "false",
        };
        foreach (var (k, v) in settings)
            all[k] = v;
        all["PgVault:DataDirectory"] = dir.Path;
        if (!all.ContainsKey("PgVault:GroupAccess"))
        {
            // Tests run as root and restores run PostgreSQL (and its restore_command, pgvault wal-fetch) as the postgres
            // OS user: the repository is shared with group postgres, as an operator would.
            all["PgVault:GroupAccess"] = "true";
            if (TestEnvironment.IsRoot)
                await PgVault.Hosting.StateDirectory.ShareWithGroupAsync(dir.Path, "postgres", TestContext.Current.CancellationToken);
        }

        var logs = new CapturingLoggerProvider();
        var app = PgVaultApp.Build(null, [], urls, all, mapExtra, l =>
        {
            l.ClearProviders();
            l.AddProvider(logs);
            l.SetMinimumLevel(LogLevel.Debug);
        });
        var console = new StringWriter();
        await PgVaultApp.InitializeAsync(app, console, TestContext.Current.CancellationToken);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new ApiServer(app, dir, dataDirectory is null, logs, console.ToString());
    }

    public HttpClient Client(string? bearer = null) =>
        Client(bearer is null ? null : new AuthenticationHeaderValue("Bearer", bearer));

    public HttpClient BasicClient(string user, string password) =>
        Client(new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"))));

    public HttpClient Client(AuthenticationHeaderValue? auth)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = auth;
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (_ownsDirectory)
            _dir.Dispose();
    }
}

/// <summary>Keeps every formatted log line (and exception text) written through it.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var args = state is IEnumerable<KeyValuePair<string, object?>> kv ? string.Join(" ", kv.Select(p => $"{p.Key}={p.Value}")) : "";
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {args} {exception}");
        }
    }
}

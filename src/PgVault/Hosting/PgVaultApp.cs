using PgVault.Api.Actions;
using PgVault.Api.Auth;
using PgVault.Api.Contracts;
using PgVault.Api.Endpoints;
using PgVault.Api.Errors;
using PgVault.Api.Limits;
using PgVault.Api.ReadModel;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.Restore;
using PgVault.Errors;
using PgVault.Fleet;
using PgVault.Ui;

namespace PgVault.Hosting;

/// <summary>Builds and initialises the <c>pgvault serve</c> web application. Tests build it the same way.</summary>
public static partial class PgVaultApp
{
    /// <summary>Where the IONOS clients (ionosctl, SDKs) address the API; it is served at the root too.</summary>
    public const string IonosPrefix = "/databases/postgresql";

    public const string DefaultUrls = "http://127.0.0.1:8080";

    /// <param name="configFile">JSON configuration file, or null.</param>
    /// <param name="configArgs">Command-line overrides (<c>--PgVault:DataDirectory=...</c>).</param>
    /// <param name="urls">Kestrel URLs.</param>
    /// <param name="overrides">Extra in-memory settings, applied last (tests).</param>
    /// <param name="mapExtra">Maps extra endpoints before the fallback (tests).</param>
    /// <param name="logging">Adds log providers (tests capture logs this way).</param>
    public static WebApplication Build(string? configFile, string[] configArgs, string urls,
        IReadOnlyDictionary<string, string?>? overrides = null, Action<WebApplication>? mapExtra = null,
        Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = Directory.GetCurrentDirectory() });
        var config = builder.Configuration;
        config.Sources.Clear();
        if (configFile is not null)
        {
            var full = Path.GetFullPath(configFile);
            if (!File.Exists(full))
                throw new PgVaultException(ErrorCode.InvalidConfiguration, $"configuration file '{full}' does not exist");
            config.AddJsonFile(full, optional: false, reloadOnChange: false);
        }

        config.AddEnvironmentVariables();
        config.AddCommandLine(configArgs);
        if (overrides is not null)
            config.AddInMemoryCollection(overrides);

        var options = LoadOptions(config);
        builder.WebHost.UseUrls(urls);
        var certificates = options.Api.Tls.Enabled ? new TlsCertificates(options, TimeProvider.System) : null;
        if (certificates is null && urls.Contains("https://", StringComparison.OrdinalIgnoreCase))
        {
            throw new PgVaultException(ErrorCode.InvalidConfiguration, $"an https:// URL ({urls}) needs a certificate",
                "set PgVault:Api:Tls:CertificateFile (and KeyFile) to PEM files");
        }

        if (certificates is not null)
            builder.WebHost.UseKestrelHttpsConfiguration(); // the slim builder leaves HTTPS out unless asked
        builder.WebHost.ConfigureKestrel(k =>
        {
            RequestSizeLimits.ConfigureKestrel(k);
            if (certificates is not null)
                k.ConfigureHttpsDefaults(h => h.ServerCertificateSelector = (_, _) => certificates.Current);
        });
        builder.Logging.ClearProviders();
        if (string.Equals(options.Logging.Format, LoggingOptions.Json, StringComparison.Ordinal))
        {
            // One JSON object per line; the message's fields (Cluster, Label, DatabaseBytes, ...) under "State".
            builder.Logging.AddJsonConsole(o =>
            {
                o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
                o.UseUtcTimestamp = true;
                o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions
                {
                    Indented = false,
                    // "->" stays readable; the output is a log stream, never embedded in HTML.
                    Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
                };
            });
        }
        else
        {
            // One line per event, control characters escaped (a client's "%0d" cannot forge a line).
            builder.Logging.AddConsole(o => o.FormatterName = TextLogFormatter.FormatterName)
                .AddConsoleFormatter<TextLogFormatter, Microsoft.Extensions.Logging.Console.ConsoleFormatterOptions>();
        }

        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // Data protection is registered by the authentication stack but protects nothing of PgVault's.
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        logging?.Invoke(builder.Logging);

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(CatalogFactory.Create(options));
        services.AddSingleton<CatalogQueries>();
        services.AddSingleton(sp => new BackupReadModel(sp.GetRequiredService<ICatalog>(), ContractMapper.ToJsonItem,
            options.Api.ReadModel, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<BackupReadModel>>()));
        services.AddSingleton<BackupListings>();
        services.AddSingleton<LocationStores>();
        if (string.Equals(options.Catalog.Provider, CatalogOptions.Postgres, StringComparison.Ordinal))
        {
            // A fleet: instances sharing this catalog share the clusters through leases (docs/FLEET.md).
            services.AddSingleton<ILeaseStore>(_ => new PgVault.Catalog.Postgres.PostgresLeaseStore(options.Catalog.ConnectionString!));
            services.AddSingleton<FleetCoordinator>();
            // Actions sent to an instance that does not back the cluster up go to the one that does, through the catalog.
            services.AddSingleton<IActionQueue>(_ => new PgVault.Catalog.Postgres.PostgresActionQueue(options.Catalog.ConnectionString!));
            services.AddSingleton<FleetActionForwarder>();
            services.AddHostedService<FleetActionService>();
        }

        services.AddSingleton<SqliteServeLockHolder>();
        services.AddSingleton(sp => new BackupEngine(options, sp.GetRequiredService<LocationStores>(), sp.GetRequiredService<ICatalog>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>(),
            options.Engine.Enabled ? sp.GetService<FleetCoordinator>() : null));
        services.AddHostedService<BackupEngineService>();
        services.AddSingleton(sp => new RestoreService(options, sp.GetRequiredService<LocationStores>().Get, PgVaultExecutable.Self(), configFile,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<RestoreService>()));
        services.AddSingleton(sp => new InPlaceRestores(options, sp.GetRequiredService<BackupEngine>().Find, sp.GetRequiredService<ICatalog>(),
            sp.GetRequiredService<RestoreService>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<InPlaceRestores>>()));
        services.AddSingleton<BaseBackupActions>();
        services.AddSingleton<PgVault.Api.Queries.BaseBackupListings>();
        services.AddSingleton<RestoreActions>();
        // Typed results (Accepted<T>, NotFound<ErrorResponse>, ...) write with these options: the contract's, so their bytes
        // are those of every other response.
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase;
            o.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull;
            o.SerializerOptions.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default);
        });
        services.AddSingleton<CredentialStore>();
        services.AddSingleton<LoginThrottle>();
        services.AddSingleton<ConsoleSessions>();
        services.AddExceptionHandler<ApiExceptionHandler>();
        services.AddProblemDetails();
        services.AddAuthentication(PgVaultAuthenticationHandler.SchemeName)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, PgVaultAuthenticationHandler>(
                PgVaultAuthenticationHandler.SchemeName, null);
        services.AddAuthorization();
        services.AddSingleton<Readiness>();
        services.AddSingleton<FleetStatus>();
        if (options.Metrics.Enabled)
            Observability.AddMetrics(services);

        var app = builder.Build();
        if (certificates is not null)
            certificates.Logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger<TlsCertificates>();
        // Outermost, so the logged status is the one sent (after the exception handler and status code pages).
        app.UseMiddleware<RequestLogging>();
        app.UseExceptionHandler();
        app.UseStatusCodePages(StatusCodeErrors.WriteAsync);
        app.UseMiddleware<RequestSizeLimits>();
        if (certificates is not null && options.Api.Tls.HstsMaxAge > TimeSpan.Zero)
        {
            var hsts = $"max-age={(long)options.Api.Tls.HstsMaxAge.TotalSeconds}";
            app.Use((context, next) =>
            {
                if (context.Request.IsHttps)
                    context.Response.Headers.StrictTransportSecurity = hsts;
                return next(context);
            });
        }
        // A client base URL ending in '/' (".../databases/postgresql/") asks for "//clusters/backups": one slash is meant.
        app.Use((context, next) =>
        {
            if (context.Request.Path.Value is { } path && path.Contains("//", StringComparison.Ordinal))
                context.Request.Path = new PathString(RepeatedSlashes().Replace(path, "/"));
            return next(context);
        });
        app.UseRouting();
        // Sees the outcome of every audited request, refusals by authentication, rate limit and authorization included.
        app.UseMiddleware<AuditLogging>();
        app.UseMiddleware<RequestBodyLimits>();
        app.UseAuthentication();
        app.UseMiddleware<ConsoleCsrf>();
        app.UseMiddleware<RequestRateLimit>();
        app.UseAuthorization();

        app.MapServiceEndpoints(options.Api.EnableBenchmarkEndpoint);
        app.MapFleetEndpoints();
        if (options.Metrics.Enabled)
            Observability.MapMetrics(app);
        foreach (var prefix in new[] { "", IonosPrefix })
        {
            app.MapBackupEndpoints(prefix);
            app.MapClusterEndpoints(prefix);
            app.MapBackupActionEndpoints(prefix);
            app.MapBaseBackupEndpoints(prefix);
            app.MapRestoreEndpoints(prefix);
            app.MapClusterHistoryEndpoints(prefix);
        }

        if (options.Api.Console.Enabled)
            app.MapConsoleEndpoints();

        // No fallback endpoint: an unknown path ends as a bodiless 404 (and a known path with the wrong method as 405),
        // which the status code pages above turn into an ErrorResponse.
        mapExtra?.Invoke(app);
        return app;
    }

    /// <summary>Binds and validates the <c>PgVault</c> section; throws one error naming every bad key.</summary>
    public static PgVaultOptions LoadOptions(IConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var unknown = ConfigurationKeys.FindUnknown(config.AsEnumerable().Select(kv => kv.Key));
        if (unknown.Count > 0)
        {
            throw new PgVaultException(ErrorCode.InvalidConfiguration,
                "invalid configuration:" + string.Concat(unknown.Select(e => "\n  - " + e)),
                "fix the keys named above in the configuration file, environment (PGVAULT__...) or --set overrides");
        }

        var options = new PgVaultOptions();
        try
        {
            config.GetSection(PgVaultOptions.SectionName).Bind(options, o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            throw new PgVaultException(ErrorCode.InvalidConfiguration, $"invalid configuration: {ex.Message}",
                "check the keys under 'PgVault' against the configuration reference, docs/CONFIGURATION.md", ex);
        }

        PgVaultOptionsValidator.ApplyDefaults(options);
        var errors = PgVaultOptionsValidator.Validate(options);
        if (errors.Count > 0)
        {
            throw new PgVaultException(ErrorCode.InvalidConfiguration,
                "invalid configuration:" + string.Concat(errors.Select(e => "\n  - " + e)),
                "fix the keys named above in the configuration file, environment (PGVAULT__...) or command line");
        }

        return options;
    }

    /// <summary>
    /// Prepares a built app for serving: data directory, catalog schema, configured clusters, and (with no users or
    /// tokens configured) the admin token of the zero-configuration start, printed once to <paramref name="console"/>.
    /// </summary>
    public static async Task InitializeAsync(WebApplication app, TextWriter console, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Services.GetRequiredService<PgVaultOptions>();
        StateDirectory.Prepare(options, app.Logger);
        var catalog = app.Services.GetRequiredService<ICatalog>();
        if (options.Engine.Enabled && string.Equals(catalog.Provider, CatalogOptions.Sqlite, StringComparison.Ordinal))
            app.Services.GetRequiredService<SqliteServeLockHolder>().Lock ??= SqliteServeLock.Acquire(options);
        await catalog.MigrateAsync(ct).ConfigureAwait(false);
        var now = app.Services.GetRequiredService<TimeProvider>().GetUtcNow();
        foreach (var c in options.Clusters)
        {
            await catalog.UpsertClusterAsync(new ClusterRecord
            {
                Id = c.Id,
                DisplayName = c.DisplayName ?? c.Id,
                CreatedDate = now,
                State = ClusterState.Unknown,
                BackupLocation = c.BackupLocation,
            }, ct).ConfigureAwait(false);
        }

        var credentials = app.Services.GetRequiredService<CredentialStore>();
        if (credentials.IsEmpty)
            credentials.AddToken(AdminToken.Ensure(options, console));

        // The backup listings are served from the catalog until the read model has loaded (in the background).
        app.Services.GetRequiredService<BackupReadModel>().StartLoading();
    }

    [System.Text.RegularExpressions.GeneratedRegex("/{2,}", System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex RepeatedSlashes();
}

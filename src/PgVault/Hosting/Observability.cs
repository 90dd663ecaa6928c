using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using PgVault.Engine.Telemetry;

namespace PgVault.Hosting;

/// <summary>
/// <c>GET /metrics</c>: the <c>PgVault</c> meter (<see cref="PgVaultMetrics"/> and <see cref="EngineGauges"/>) and
/// ASP.NET Core's own <c>http.server.request.duration</c> (by route template and status), exported in the Prometheus
/// text format by OpenTelemetry's exporter. Unauthenticated, as Prometheus scrapes usually are;
/// <c>PgVault:Metrics:Enabled=false</c> turns it off.
/// </summary>
public static class Observability
{
    public const string MetricsPath = "/metrics";

    /// <summary>ASP.NET Core's meter holding <c>http.server.request.duration</c>.</summary>
    private const string AspNetCoreHostingMeter = "Microsoft.AspNetCore.Hosting";

    public static void AddMetrics(IServiceCollection services)
    {
        services.AddSingleton<EngineGauges>();
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("pgvault"))
            .WithMetrics(m => m
                .AddMeter(PgVaultMetrics.MeterName, AspNetCoreHostingMeter)
                // Every scrape reads the current state (no 300 ms cache: a scrape right after a change sees it).
                .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
    }

    public static void MapMetrics(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // The gauges exist from start-up on (they read the workers at each scrape).
        _ = app.Services.GetRequiredService<EngineGauges>();
        app.MapPrometheusScrapingEndpoint(MetricsPath).AllowAnonymous();
    }
}

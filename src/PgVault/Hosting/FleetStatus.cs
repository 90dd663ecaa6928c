using System.Globalization;
using PgVault.Api.Contracts;
using PgVault.Configuration;
using PgVault.Fleet;

namespace PgVault.Hosting;

/// <summary>
/// What <c>GET /fleet</c> shows. In a fleet: every registered instance (from the catalog, whichever instance answers),
/// live or not, with the leases it holds. A single instance: itself, backing up every configured cluster.
/// </summary>
public sealed class FleetStatus(PgVaultOptions options, BackupEngine engine, IServiceProvider services)
{
    private static readonly DateTimeOffset Started = DateTimeOffset.UtcNow;

    public async Task<FleetResponse> GetAsync(CancellationToken ct)
    {
        var name = options.Fleet.EffectiveInstanceName;
        if (services.GetService<ILeaseStore>() is not { } store)
        {
            var clusters = options.Engine.Enabled
                ? options.Clusters.Select(c => new FleetLeaseItem(c.Id, 0, null)).OrderBy(c => c.ClusterId, StringComparer.Ordinal).ToList()
                : [];
            var self = new FleetInstanceItem(name, Environment.MachineName, Environment.ProcessId, Format(Started), 0, true, clusters);
            return new FleetResponse(name, "single", null, [self], options.Engine.Enabled ? [] : options.Clusters.Select(c => c.Id).ToList());
        }

        var ttl = options.Fleet.LeaseTtl;
        var instances = await store.ListInstancesAsync(ct).ConfigureAwait(false);
        var leases = await store.ListLeasesAsync(ct).ConfigureAwait(false);
        var held = leases.Where(l => l.Held).ToLookup(l => l.Owner!, StringComparer.Ordinal);
        var items = instances.Select(i => new FleetInstanceItem(i.Name, i.Host, i.ProcessId, Format(i.StartedAt), Math.Round(i.HeartbeatAge.TotalSeconds, 3),
            i.HeartbeatAge < ttl,
            held[i.Name].Select(l => new FleetLeaseItem(l.ClusterId, l.Epoch, Math.Round(l.Remaining.TotalSeconds, 3))).ToList())).ToList();
        var owned = leases.Where(l => l.Held).Select(l => l.ClusterId).ToHashSet(StringComparer.Ordinal);
        var unowned = options.Clusters.Select(c => c.Id).Where(id => !owned.Contains(id)).Order(StringComparer.Ordinal).ToList();
        return new FleetResponse(engine.Fleet?.InstanceName ?? name, "fleet", ttl.TotalSeconds, items, unowned);
    }

    private static string Format(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}

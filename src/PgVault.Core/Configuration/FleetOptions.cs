namespace PgVault.Configuration;

/// <summary>
/// Several <c>serve</c> instances sharing the clusters (<c>Catalog:Provider=postgres</c> only): each instance registers
/// in the catalog and heartbeats; each configured cluster is backed up by exactly one live instance, which holds the
/// cluster's lease (with an epoch, the fencing token) and renews it. With SQLite, one instance that backs up clusters
/// per catalog. docs/FLEET.md.
/// </summary>
public sealed class FleetOptions
{
    /// <summary>This instance's name in the fleet (<c>GET /fleet</c>, the logs). Unique per running instance. Default:
    /// the host name, a dash and 6 random hex digits (a new name at every start).</summary>
    public string? InstanceName { get; set; }

    /// <summary>How long a lease (and an instance's heartbeat) lasts without renewal: an instance that stops renewing
    /// (killed, paused, cut off from the catalog) loses its clusters this long after its last renewal, and another
    /// instance takes them over. Renewed every third of it. Default 15 s; from 3 s to 5 minutes.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long an instance that does not back a cluster up waits for the instance that does to take an action
    /// sent to it (<c>POST /clusters/{id}/backups</c>, <c>POST /clusters/{id}/restore</c>) through the catalog's queue and
    /// answer: past it, the action is abandoned (never carried out) and the client gets 503. Once taken, the answer is
    /// awaited as long again. Default 10 s; from 1 s to 5 minutes.</summary>
    public TimeSpan ActionTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The instance name in effect.</summary>
    public string EffectiveInstanceName => string.IsNullOrWhiteSpace(InstanceName) ? DefaultName.Value : InstanceName;

    private static readonly Lazy<string> DefaultName = new(() =>
        Environment.MachineName.ToLowerInvariant() + "-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3)));
}

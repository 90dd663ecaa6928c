namespace PgVault.Api.Contracts;

/// <summary>Body of <c>GET /fleet</c> (a PgVault extension): the instances sharing the clusters and what each backs up.</summary>
/// <param name="Instance">The instance that answered.</param>
/// <param name="Mode"><c>fleet</c> (a PostgreSQL catalog: leases) or <c>single</c> (this instance backs up every cluster).</param>
/// <param name="LeaseTtlSeconds">The lease TTL (fleet only).</param>
/// <param name="Instances">Every registered instance, live or not, by name.</param>
/// <param name="UnownedClusters">Configured clusters no live instance holds a lease on (being taken over).</param>
public sealed record FleetResponse(string Instance, string Mode, double? LeaseTtlSeconds, IReadOnlyList<FleetInstanceItem> Instances,
    IReadOnlyList<string> UnownedClusters);

/// <summary>One instance of <c>GET /fleet</c>.</summary>
/// <param name="Name">Its name (<c>Fleet:InstanceName</c>).</param>
/// <param name="Host">Its host.</param>
/// <param name="Pid">Its process id.</param>
/// <param name="StartedAt">When it joined (ISO 8601).</param>
/// <param name="HeartbeatAgeSeconds">Age of its last heartbeat, by the catalog's clock.</param>
/// <param name="Live">True while its heartbeat is younger than the lease TTL.</param>
/// <param name="Clusters">The clusters whose lease it holds.</param>
public sealed record FleetInstanceItem(string Name, string Host, int Pid, string StartedAt, double HeartbeatAgeSeconds, bool Live,
    IReadOnlyList<FleetLeaseItem> Clusters);

/// <summary>One held lease of <c>GET /fleet</c>.</summary>
/// <param name="ClusterId">The cluster.</param>
/// <param name="Epoch">The lease's epoch (the fencing token).</param>
/// <param name="ExpiresInSeconds">Time left before it expires unless renewed.</param>
public sealed record FleetLeaseItem(string ClusterId, long Epoch, double? ExpiresInSeconds);

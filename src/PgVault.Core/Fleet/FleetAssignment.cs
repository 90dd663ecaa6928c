using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace PgVault.Fleet;

/// <summary>
/// Which live instance backs up which cluster: data in, decision out, no I/O. Every instance computes it from the same
/// rows of the catalog, so they agree without talking to each other; the leases settle the moments they do not.
/// </summary>
/// <remarks>
/// Rendezvous (highest random weight) hashing with a capacity: each cluster ranks the instances by a hash of
/// (cluster, instance) and goes to the first one in its ranking that still has room, the clusters taken in id order.
/// Every instance gets ⌊N/M⌋ or ⌈N/M⌉ of the N clusters (within one of its share), the result depends only on the two
/// sets (stable while nothing changes), and an instance joining or leaving moves few clusters besides its own share.
/// </remarks>
public static class FleetAssignment
{
    /// <summary>Cluster id → instance name for every cluster; empty when there is no instance.</summary>
    public static IReadOnlyDictionary<string, string> Assign(IEnumerable<string> clusters, IEnumerable<string> instances)
    {
        ArgumentNullException.ThrowIfNull(clusters);
        ArgumentNullException.ThrowIfNull(instances);
        var ids = clusters.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var names = instances.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (names.Count == 0)
            return result;

        var floor = ids.Count / names.Count;
        var extraLeft = ids.Count % names.Count;
        var counts = names.ToDictionary(n => n, _ => 0, StringComparer.Ordinal);
        foreach (var id in ids)
        {
            foreach (var name in names.OrderByDescending(n => Weight(id, n)).ThenBy(n => n, StringComparer.Ordinal))
            {
                var count = counts[name];
                if (count < floor || (count == floor && extraLeft > 0))
                {
                    if (count == floor)
                        extraLeft--;
                    counts[name] = count + 1;
                    result[id] = name;
                    break;
                }
            }
        }

        return result;
    }

    /// <summary>The rendezvous weight of an instance for a cluster: the first 8 bytes of SHA-256("cluster\ninstance").</summary>
    public static ulong Weight(string clusterId, string instance)
    {
        ArgumentNullException.ThrowIfNull(clusterId);
        ArgumentNullException.ThrowIfNull(instance);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(clusterId + "\n" + instance), hash);
        return BinaryPrimitives.ReadUInt64BigEndian(hash);
    }
}

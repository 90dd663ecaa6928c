namespace PgVault.Catalog;

/// <summary>An offset/limit page request, as the IONOS API pages (offset &gt;= 0, 1 &lt;= limit &lt;= 1000).</summary>
public readonly record struct PageRequest
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    public PageRequest(int offset, int limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, MaxLimit);
        Offset = offset;
        Limit = limit;
    }

    public int Offset { get; }

    public int Limit { get; }
}

/// <summary>
/// One page of a stable listing. <see cref="HasMore"/> is true when at least one element follows the page
/// (offset + limit &lt; total), which is all the API needs to decide on a <c>next</c> link; no count is taken.
/// </summary>
public sealed record Page<T>(IReadOnlyList<T> Items, int Offset, int Limit, bool HasMore);

/// <summary>Which clusters a query may see: all of them, or an explicit set (a principal's grants).</summary>
public sealed class ClusterScope
{
    private ClusterScope(IReadOnlySet<string>? ids) => Ids = ids;

    /// <summary>Every cluster.</summary>
    public static ClusterScope All { get; } = new(null);

    /// <summary>The explicit set of cluster ids, or null for all.</summary>
    public IReadOnlySet<string>? Ids { get; }

    public bool IsAll => Ids is null;

    public static ClusterScope Only(IEnumerable<string> clusterIds) =>
        new(new HashSet<string>(clusterIds, StringComparer.Ordinal));

    public bool Allows(string clusterId) => Ids is null || Ids.Contains(clusterId);
}

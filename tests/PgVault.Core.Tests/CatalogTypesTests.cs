using PgVault.Catalog;
using PgVault.Catalog.Sql;
using Xunit;

namespace PgVault.Core.Tests;

public sealed class CatalogTypesTests
{
    [Theory]
    [InlineData(-1, 10)]
    [InlineData(0, 0)]
    [InlineData(0, 1001)]
    public void Page_requests_outside_the_IONOS_bounds_are_refused(int offset, int limit) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new PageRequest(offset, limit));

    [Fact]
    public void A_scope_allows_exactly_its_clusters()
    {
        Assert.True(ClusterScope.All.Allows("anything"));
        var scope = ClusterScope.Only(["a", "b"]);
        Assert.True(scope.Allows("a"));
        Assert.False(scope.Allows("c"));
        Assert.False(scope.Allows("A"));
        Assert.False(ClusterScope.Only([]).Allows("a"));
    }

    [Fact]
    public void Times_round_trip_through_microseconds()
    {
        var t = new DateTimeOffset(2026, 11, 26, 20, 24, 19, TimeSpan.FromHours(2)).AddTicks(1_234_560);
        Assert.Equal(t, AdoCatalog.FromMicros(AdoCatalog.ToMicros(t)));
        Assert.Equal(0, AdoCatalog.ToMicros(DateTimeOffset.UnixEpoch));
        Assert.Equal(TimeSpan.Zero, AdoCatalog.FromMicros(5).Offset);
    }

    [Fact]
    public void Core_references_no_database_driver_cloud_sdk_or_web_framework()
    {
        var forbidden = new[] { "AWSSDK", "Microsoft.Data.Sqlite", "Npgsql", "Microsoft.AspNetCore", "SQLitePCL" };
        var references = typeof(ICatalog).Assembly.GetReferencedAssemblies().Select(a => a.Name ?? "");
        Assert.DoesNotContain(references, r => forbidden.Any(f => r.StartsWith(f, StringComparison.Ordinal)));
    }
}

using PgVault.Fleet;
using Xunit;

namespace PgVault.Core.Tests;

/// <summary>Which live instance backs up which cluster: balanced, complete, stable, and moving few clusters on a change.</summary>
public sealed class FleetAssignmentTests
{
    private static List<string> Clusters(int n) => Enumerable.Range(0, n).Select(i => new Guid(i, 0, 0, new byte[8]).ToString()).ToList();

    private static List<string> Instances(int m) => Enumerable.Range(0, m).Select(i => $"host{i}-a1b2c3").ToList();

    [Theory]
    [InlineData(6, 3)]
    [InlineData(7, 3)]
    [InlineData(1, 3)]
    [InlineData(2, 5)]
    [InlineData(100, 3)]
    [InlineData(101, 7)]
    [InlineData(1000, 10)]
    [InlineData(5, 1)]
    public void Every_cluster_has_one_instance_and_every_instance_is_within_one_of_its_share(int clusters, int instances)
    {
        var ids = Clusters(clusters);
        var names = Instances(instances);
        var assignment = FleetAssignment.Assign(ids, names);

        Assert.Equal(ids.Order(StringComparer.Ordinal), assignment.Keys.Order(StringComparer.Ordinal));
        Assert.All(assignment.Values, v => Assert.Contains(v, names));
        var share = (double)clusters / instances;
        foreach (var name in names)
        {
            var count = assignment.Values.Count(v => v == name);
            Assert.InRange(count, Math.Floor(share), Math.Ceiling(share));
        }
    }

    [Fact]
    public void No_instance_no_assignment() => Assert.Empty(FleetAssignment.Assign(Clusters(3), []));

    [Fact]
    public void The_result_depends_only_on_the_two_sets_not_their_order_or_repetition()
    {
        var ids = Clusters(20);
        var names = Instances(4);
        var a = FleetAssignment.Assign(ids, names);
        var b = FleetAssignment.Assign(Enumerable.Reverse(ids).Concat(ids), Enumerable.Reverse(names).Append(names[0]));
        Assert.Equal(a.OrderBy(kv => kv.Key, StringComparer.Ordinal), b.OrderBy(kv => kv.Key, StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(60, 3)]
    [InlineData(100, 5)]
    public void An_instance_leaving_moves_its_own_clusters_and_few_others(int clusters, int instances)
    {
        var ids = Clusters(clusters);
        var names = Instances(instances);
        var before = FleetAssignment.Assign(ids, names);
        var gone = names[1];
        var after = FleetAssignment.Assign(ids, names.Where(n => n != gone));

        var orphaned = before.Count(kv => kv.Value == gone);
        var moved = ids.Count(id => before[id] != after[id]);
        Assert.DoesNotContain(gone, after.Values);
        // Its own share must move; a capacity-bound assignment may shift a few more to keep the balance, never most.
        Assert.InRange(moved, orphaned, orphaned + clusters / 4);
    }

    [Theory]
    [InlineData(60, 3)]
    [InlineData(100, 5)]
    public void An_instance_joining_takes_about_its_share(int clusters, int instances)
    {
        var ids = Clusters(clusters);
        var names = Instances(instances);
        var before = FleetAssignment.Assign(ids, names);
        var after = FleetAssignment.Assign(ids, names.Append("newcomer-ffffff"));

        var taken = after.Count(kv => kv.Value == "newcomer-ffffff");
        var moved = ids.Count(id => before[id] != after[id]);
        Assert.InRange(taken, clusters / (instances + 1), clusters / (instances + 1) + 1);
        Assert.InRange(moved, taken, taken + clusters / 4);
    }

    [Fact]
    public void The_weight_is_a_fixed_function_of_cluster_and_instance()
    {
        // SHA-256("c\ni") read big-endian: every instance of every version must compute the same assignment.
        Assert.Equal(FleetAssignment.Weight("c", "i"), FleetAssignment.Weight("c", "i"));
        Assert.NotEqual(FleetAssignment.Weight("c", "i"), FleetAssignment.Weight("c", "j"));
    }
}

using PgVault.Engine.Postgres;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests.Postgres;

/// <summary>The queries PgVault sends to a backed-up cluster, against a real one.</summary>
[Trait("Category", "Postgres")]
public sealed class PostgresServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_query_answers_on_a_primary()
    {
        await using var pg = await PostgresCluster.StartAsync("server-queries", ct: Ct);
        await pg.ExecuteAsync("CHECKPOINT", ct: Ct);
        var server = new PostgresServer(pg.ConnectionString());

        Assert.True((await server.RedoPointAsync(Ct)).Value > 0);
        Assert.True(await server.NextXidAsync(Ct) > 0);
        Assert.True(await server.DatabaseSizeBytesAsync(Ct) > 0);
        Assert.False(await server.IsReplicationSlotActiveAsync("no_such_slot", Ct));
        Assert.Equal(["postgres", "template1"], await server.ConnectableDatabasesAsync(Ct));

        var status = await server.RecoveryStatusAsync(Ct);
        Assert.False(status.InRecovery);
        Assert.Equal(1, status.Timeline);
        Assert.True(status.Position!.Value.Value > 0);

        Assert.True(await server.AddAmcheckAsync("postgres", Ct));
        Assert.False(await server.AddAmcheckAsync("postgres", Ct));
        await server.DropAmcheckAsync("postgres", Ct);
        Assert.True(await server.AddAmcheckAsync("postgres", Ct));
    }
}

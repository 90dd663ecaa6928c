using System.Diagnostics;
using Npgsql;
using PgVault.Engine.Repository;
using PgVault.Postgres;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>Bounded waits and small PostgreSQL helpers for engine tests.</summary>
public static class Wait
{
    /// <summary>Polls <paramref name="condition"/> every 100 ms until it holds; fails naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout)
                Assert.Fail($"timed out after {timeout.TotalSeconds:0} s waiting for {what}");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>
    /// Until every finished WAL segment of the cluster's chains is stored whole (the streamer makes a segment's tail
    /// durable as a piece first and stores the segment whole beside that): only the head segment left as pieces.
    /// </summary>
    public static Task FinishedSegmentsWholeAsync(PgVault.Storage.IObjectStore store, string clusterId, TimeSpan timeout) =>
        UntilAsync(async () =>
        {
            foreach (var c in await RepositoryScanner.ScanAsync(store, clusterId, TestContext.Current.CancellationToken))
            {
                var head = WalSegment.Number(c.DurableEnd);
                if (c.Wal.Any(w => w.Partial && w.Segment != head))
                    return false;
            }

            return true;
        }, timeout, "the finished WAL segments to be stored whole");
}

public static class Pg
{
    public static async Task<T> ScalarAsync<T>(PostgresCluster cluster, string sql)
    {
        await using var conn = await cluster.OpenAsync(ct: TestContext.Current.CancellationToken);
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (T)(await cmd.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    public static async Task<Lsn> FlushLsnAsync(PostgresCluster cluster) =>
        Lsn.Parse(await ScalarAsync<string>(cluster, "SELECT pg_current_wal_flush_lsn()::text"));

    /// <summary>
    /// The end of all WAL inserted so far. The fixture runs with synchronous_commit = off, so a commit can be visible
    /// before it is flushed: waiting for the insert position covers every committed transaction.
    /// </summary>
    public static async Task<Lsn> InsertLsnAsync(PostgresCluster cluster) =>
        Lsn.Parse(await ScalarAsync<string>(cluster, "SELECT pg_current_wal_insert_lsn()::text"));

    /// <summary>Runs pgbench (as the postgres user when root) against the cluster.</summary>
    public static async Task PgbenchAsync(PostgresCluster cluster, params string[] args)
    {
        var (code, output) = await cluster.RunPgRawAsync("pgbench",
            ["-h", "127.0.0.1", "-p", cluster.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres", .. args, "postgres"],
            TestContext.Current.CancellationToken);
        Assert.True(code == 0, "pgbench failed: " + output);
    }
}

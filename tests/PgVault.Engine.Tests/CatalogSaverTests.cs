using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using PgVault.Catalog;
using PgVault.Catalog.Sqlite;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Postgres;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// WAL made durable moves the chain in memory only; <see cref="CatalogSaver"/> brings the catalog row up to date within
/// a second, at once on a state change, and with the last state when it stops.
/// </summary>
public sealed class CatalogSaverTests : IAsyncLifetime
{
    private static readonly Lsn Start = WalSegment.Start(3);
    private readonly TempDirectory _dir = new("catalog-saver");
    private readonly string _cluster = Guid.NewGuid().ToString();
    private SqliteCatalog _catalog = null!;
    private ClusterChain _chain = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _catalog = new SqliteCatalog($"Data Source={Path.Combine(_dir.Path, "catalog.db")}");
        await _catalog.MigrateAsync(Ct);
        var options = new PgVaultOptions { Clusters = [new ClusterOptions { Id = _cluster, ConnectionString = "Host=unused" }] };
        PgVaultOptionsValidator.ApplyDefaults(options);
        _chain = new ClusterChain(options.Clusters[0], new InMemoryObjectStore(), _catalog, options.Engine, TimeProvider.System, NullLogger.Instance);
        await _chain.EnsureChainAsync("7300000000000000001", 1, Start, "15", _ => Task.FromResult(""), Ct);
    }

    public ValueTask DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _dir.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<BackupRecord> RowAsync() => (await _catalog.GetActiveBackupAsync(_cluster, Ct))!;

    /// <summary>Polls the catalog (every 20 ms, at most <paramref name="within"/>); returns how long it took.</summary>
    private async Task<TimeSpan> SavedAsync(Func<BackupRecord, bool> condition, TimeSpan within, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition(await RowAsync()))
        {
            Assert.True(clock.Elapsed < within, $"{what} was not saved within {within.TotalSeconds} s");
            await Task.Delay(20, Ct);
        }

        return clock.Elapsed;
    }

    [Fact]
    public async Task A_flush_does_not_write_the_catalog_and_the_ticker_saves_it_within_a_second()
    {
        using var stop = new CancellationTokenSource();
        var saver = new CatalogSaver(_chain, TimeProvider.System, NullLogger.Instance);
        Assert.True(saver.Interval <= CatalogSaver.MaxInterval);
        var running = saver.RunAsync(stop.Token);
        await Task.Delay(100, Ct); // the saver's first wait has begun

        var end = Start + 0x42000;
        await _chain.OnWalDurableAsync(end, 1, 1000, Ct);
        Assert.Equal(end.Value, _chain.Current!.EndLsn); // in memory at once
        var took = await SavedAsync(r => r.EndLsn == end.Value, TimeSpan.FromSeconds(5), "the durable end");
        Assert.True(took <= CatalogSaver.MaxInterval + TimeSpan.FromSeconds(1), $"saved after {took.TotalMilliseconds:0} ms");

        await stop.CancelAsync();
        await running;
    }

    [Fact]
    public async Task A_state_change_is_saved_at_once()
    {
        var row = await RowAsync();
        var baseEnd = Start + 0x100000;
        await _catalog.SaveBaseBackupAsync(new BaseBackupRecord
        {
            BackupId = row.Id, Label = "b1", State = BaseBackupState.Complete, Timeline = 1, StartLsn = Start.Value + 0x28, EndLsn = baseEnd.Value,
            StartedAt = DateTimeOffset.UtcNow, CompletedAt = DateTimeOffset.UtcNow,
        }, Ct);
        await _chain.RefreshAsync(Ct); // the base backup is known; its WAL is not durable yet
        Assert.Equal(BackupState.Busy, (await RowAsync()).State);

        using var stop = new CancellationTokenSource();
        var running = new CatalogSaver(_chain, TimeProvider.System, NullLogger.Instance, TimeSpan.FromHours(1)).RunAsync(stop.Token);
        await Task.Delay(100, Ct);
        await _chain.OnWalDurableAsync(Start + 0x80000, 1, 0, Ct); // not yet: no state change, nothing saved
        await _chain.OnWalDurableAsync(baseEnd, 1, 0, Ct); // the base backup becomes restorable

        await SavedAsync(r => r.State == BackupState.Available && r.EndLsn == baseEnd.Value, TimeSpan.FromSeconds(5), "the new state");
        await stop.CancelAsync();
        await running;
    }

    [Fact]
    public async Task The_last_state_is_saved_when_it_stops()
    {
        using var stop = new CancellationTokenSource();
        var running = new CatalogSaver(_chain, TimeProvider.System, NullLogger.Instance, TimeSpan.FromHours(1)).RunAsync(stop.Token);
        await Task.Delay(100, Ct);
        var end = Start + 0x1234;
        await _chain.OnWalDurableAsync(end, 1, 10, Ct);
        Assert.NotEqual(end.Value, (await RowAsync()).EndLsn);

        await stop.CancelAsync();
        await running;
        Assert.Equal(end.Value, (await RowAsync()).EndLsn);
    }
}

using PgVault.Catalog;
using PgVault.Catalog.Sqlite;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Engine.Restore;
using PgVault.Engine.Retention;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// Retention over simulated weeks: a synthetic repository (real layout and metadata, stand-in content; see
/// <see cref="SyntheticRepository"/>) grows by a base backup a day and four WAL segments, a fake clock moves on, the
/// catalog is rebuilt from the repository each day (as the engine would have kept it), and expiry runs every evening.
/// After every expiry the window start is restorable (the restore planner picks a base backup whose WAL is complete to
/// the end) and nothing beyond the policy is kept. Expiry is then killed at every delete and re-run.
/// </summary>
public sealed class RetentionSimulationTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);
    private const string Cluster = "6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f";
    private const string Removed = "0a7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f";
    private const int MinBaseBackups = 2;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class World : IAsyncDisposable
    {
        private readonly TempDirectory _dir = new("retention");

        public World()
        {
            Clock = new ManualClock(T0);
            Store = new InMemoryObjectStore(Clock);
            Repo = new SyntheticRepository(Store, Clock, Cluster);
            Catalog = new SqliteCatalog($"Data Source={Path.Combine(_dir.Path, "catalog.db")}");
            Options = new PgVaultOptions
            {
                Clusters = [new ClusterOptions { Id = Cluster, ConnectionString = "Host=unused", RetentionDays = 7, MinBaseBackups = MinBaseBackups }],
            };
            PgVaultOptionsValidator.ApplyDefaults(Options);
        }

        public ManualClock Clock { get; }

        public InMemoryObjectStore Store { get; }

        public SyntheticRepository Repo { get; }

        public SqliteCatalog Catalog { get; }

        public PgVaultOptions Options { get; }

        /// <summary>Complete base backups in the order taken.</summary>
        public List<BaseBackupMetadata> Complete { get; } = [];

        public async Task RebuildCatalogAsync() =>
            await CatalogRebuilder.RebuildAsync(Catalog, new Dictionary<string, IObjectStore> { ["local"] = Store }, Options, Clock, Ct);

        public Task<ExpiryReport> ExpireAsync(IObjectStore? store = null, bool dryRun = false, CancellationToken? ct = null) =>
            new ExpiryRunner(Options, new Dictionary<string, IObjectStore> { ["local"] = store ?? Store }, Catalog, Clock, NullLogger.Instance)
                .RunAsync(null, dryRun, null, ct ?? Ct);

        public ValueTask DisposeAsync()
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            _dir.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Day <paramref name="d"/>: a base backup at midnight (a failed one too on day 3), four segments; a promotion on day 12.</summary>
    private static async Task DayAsync(World w, int d)
    {
        w.Clock.Set(T0.AddDays(d));
        w.Complete.Add(await w.Repo.BaseBackupAsync($"day{d:D2}"));
        for (var h = 0; h < 4; h++)
        {
            w.Clock.Set(T0.AddDays(d).AddHours(h * 6 + 1));
            await w.Repo.WalAsync();
            if (d == 3 && h == 2)
                await w.Repo.BaseBackupAsync("day03-failed", complete: false, withMetadata: false);
            if (d == 12 && h == 1)
                await w.Repo.SwitchTimelineAsync(2);
        }

        w.Clock.Set(T0.AddDays(d).AddHours(23));
    }

    private static async Task<World> BuildAsync(int days, bool withRemovedCluster)
    {
        var w = new World();
        await w.Catalog.MigrateAsync(Ct);
        if (withRemovedCluster)
        {
            var removed = new SyntheticRepository(w.Store, w.Clock, Removed);
            await removed.StartChainAsync("left", 0x10);
            await removed.BaseBackupAsync("day00");
            for (var i = 0; i < 8; i++)
                await removed.WalAsync();
        }

        await w.Repo.StartChainAsync("weeks", 0x10);
        for (var d = 0; d < days; d++)
            await DayAsync(w, d);
        await w.Repo.PartialAsync(0x2000); // the head segment being written
        await w.RebuildCatalogAsync();
        return w;
    }

    /// <summary>The window start restores from a base backup whose WAL is complete up to the chain's end; nothing beyond the policy is kept.</summary>
    private static async Task AssertRetainedAsync(World w)
    {
        var now = w.Clock.GetUtcNow();
        var windowStart = now.AddDays(-7);
        var chain = await w.Repo.ScanAsync();
        var all = w.Complete;
        var keepFrom = Math.Max(0, all.FindLastIndex(b => b.CompletedAt <= windowStart));
        keepFrom = Math.Min(keepFrom, Math.Max(0, all.Count - MinBaseBackups));
        var expected = all.Skip(keepFrom).ToList();

        Assert.Equal(expected.Select(b => b.Label), chain.BaseBackups.Where(b => b.Complete).Select(b => b.Label));
        Assert.All(chain.BaseBackups.Where(b => !b.Complete), b => Assert.True(now - b.Objects.Max(o => o.LastModified) <= TimeSpan.FromDays(1),
            $"incomplete base backup {b.Label} kept for over a day"));
        var cut = WalSegment.Number(Lsn.Parse(expected[0].StartLsn));
        Assert.All(chain.Wal, x => Assert.True(x.Segment >= cut, $"WAL {x.Key} is older than the oldest kept base backup"));
        Assert.DoesNotContain(chain.Wal, x => x.Partial && x.Segment < cut);
        Assert.True(chain.Wal.Any(x => x.Partial), "the head segment's piece must never be expired");

        // Everything written stays reachable, and the oldest point inside the window restores.
        Assert.Equal(WalSegment.Start(w.Repo.Segment) + 0x2000, chain.DurableEnd);
        var target = windowStart < all[0].CompletedAt ? all[0].CompletedAt : windowStart;
        var plan = RestorePlanner.Plan(chain, new RestoreTarget.Time(target), now);
        Assert.Equal(expected.Last(b => b.CompletedAt <= target).Label, plan.BaseBackup.Label);
        var whole = chain.Wal.Where(x => !x.Partial).Select(x => x.Segment).ToHashSet();
        for (var n = WalSegment.Number(Lsn.Parse(plan.BaseBackup.Metadata!.StartLsn)); n < WalSegment.Number(chain.DurableEnd); n++)
            Assert.Contains(n, whole);

        // The catalog row moved forward, and agrees with a rebuild from the repository.
        var row = (await w.Catalog.GetBackupAsync(w.Repo.BackupId, Ct))!;
        Assert.Equal(expected[0].CompletedAt, row.EarliestRecoveryTargetTime);
        Assert.Equal(chain.WalStart.Value, row.StartLsn);
        Assert.Equal(expected.Select(b => b.Label),
            (await w.Catalog.ListBaseBackupsAsync(row.Id, Ct)).Where(b => b.State == BaseBackupState.Complete).Select(b => b.Label));
        await w.RebuildCatalogAsync();
        var rebuilt = (await w.Catalog.GetBackupAsync(w.Repo.BackupId, Ct))!;
        Assert.Equal((row.SizeBytes, row.StartLsn, row.EarliestRecoveryTargetTime), (rebuilt.SizeBytes, rebuilt.StartLsn, rebuilt.EarliestRecoveryTargetTime));
    }

    /// <summary>No base backup that looks complete misses a part; the chain restores at the window start; a rebuild shows no broken backup.</summary>
    private static async Task AssertConsistentAsync(World w)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var o in w.Store.ListAsync("clusters/", Ct))
            keys.Add(o.Key);
        foreach (var chain in await RepositoryScanner.ScanAsync(w.Store, null, Ct))
        {
            foreach (var b in chain.BaseBackups.Where(b => b.Complete))
                Assert.All(b.Metadata!.Parts.Append(b.Metadata.Manifest), p => Assert.Contains(p.Key, keys));
            if (chain.ClusterId != Cluster)
                continue;
            var now = w.Clock.GetUtcNow();
            var plan = RestorePlanner.Plan(chain, new RestoreTarget.Time(now.AddDays(-7)), now);
            var whole = chain.Wal.Where(x => !x.Partial).Select(x => x.Segment).ToHashSet();
            for (var n = WalSegment.Number(Lsn.Parse(plan.BaseBackup.Metadata!.StartLsn)); n < WalSegment.Number(chain.DurableEnd); n++)
                Assert.Contains(n, whole);
            Assert.Equal(WalSegment.Start(w.Repo.Segment) + 0x2000, chain.DurableEnd);
        }

        await w.RebuildCatalogAsync();
        var page = await w.Catalog.ListBackupsAsync(ClusterScope.All, new PageRequest(0, 100), Ct);
        Assert.All(page.Items, b => Assert.Equal(BackupState.Available, b.State));
    }

    [Fact]
    public async Task Four_weeks_of_daily_base_backups_keep_exactly_the_window_and_it_stays_restorable()
    {
        await using var w = await BuildAsync(0, withRemovedCluster: false);
        long deleted = 0;
        for (var d = 0; d < 28; d++)
        {
            await DayAsync(w, d);
            await w.Repo.PartialAsync(0x2000);
            await w.RebuildCatalogAsync(); // what the engine's catalog updates would hold
            var report = await w.ExpireAsync();
            deleted += report.ObjectsDeleted;
            await AssertRetainedAsync(w);
        }

        // 28 days, 7 retained: day 20's base backup covers the window start (day 20, 23:00); the failed one of day 3 is gone.
        var chain = await w.Repo.ScanAsync();
        Assert.Equal(Enumerable.Range(20, 8).Select(d => $"day{d:D2}"), chain.BaseBackups.Select(b => b.Label));
        Assert.True(deleted > 0);
        Assert.NotNull(chain.Expiry);
        Assert.Single(chain.HistoryKeys); // timeline 2's history: the kept base backups are on timeline 2
    }

    [Fact]
    public async Task An_expiry_killed_at_any_delete_leaves_a_restorable_repository_and_a_re_run_finishes()
    {
        for (var allowed = 0; ; allowed++)
        {
            await using var w = await BuildAsync(21, withRemovedCluster: true);
            var failing = new FailingObjectStore(w.Store, allowed);
            try
            {
                await w.ExpireAsync(failing);
            }
            catch (IOException) when (failing.Tripped)
            {
            }

            if (!failing.Tripped)
            {
                Assert.True(allowed > 20, $"expected many deletes, got {allowed}");
                break; // every interruption point was tried
            }

            await AssertConsistentAsync(w);
            await w.ExpireAsync();
            await AssertRetainedAsync(w);
            Assert.Empty(await RepositoryScanner.ScanAsync(w.Store, Removed, Ct));
            Assert.DoesNotContain((await w.Catalog.ListBackupsAsync(ClusterScope.All, new PageRequest(0, 100), Ct)).Items, b => b.ClusterId == Removed);
        }
    }

    [Fact]
    public async Task A_cancelled_whole_expiry_leaves_the_backup_destroying_then_gone_and_rebuild_does_not_bring_it_back()
    {
        await using var w = await BuildAsync(21, withRemovedCluster: true);
        var removedId = (await w.Catalog.ListBackupsAsync(ClusterScope.Only([Removed]), new PageRequest(0, 10), Ct)).Items.Single().Id;
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var failing = new FailingObjectStore(w.Store, 1) { Cancel = cancel }; // chain.json goes, then the run is cancelled
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => w.ExpireAsync(failing, ct: cancel.Token));

        Assert.Equal(BackupState.Destroying, (await w.Catalog.GetBackupAsync(removedId, Ct))!.State);
        var left = (await RepositoryScanner.ScanAsync(w.Store, Removed, Ct)).Single();
        Assert.Null(left.Metadata);
        Assert.NotEmpty(left.Objects);

        await w.RebuildCatalogAsync(); // a chain without chain.json is not a backup
        Assert.Null(await w.Catalog.GetBackupAsync(removedId, Ct));
        await w.ExpireAsync();
        Assert.Empty(await RepositoryScanner.ScanAsync(w.Store, Removed, Ct));
        await AssertRetainedAsync(w);
    }

    [Fact]
    public async Task A_dry_run_deletes_nothing_and_lists_what_the_real_run_deletes()
    {
        await using var w = await BuildAsync(21, withRemovedCluster: true);
        async Task<List<ObjectInfo>> ListAsync()
        {
            var list = new List<ObjectInfo>();
            await foreach (var o in w.Store.ListAsync("clusters/", Ct))
                list.Add(o);
            return list;
        }

        var before = await ListAsync();
        var rowsBefore = (await w.Catalog.ListBackupsAsync(ClusterScope.All, new PageRequest(0, 100), Ct)).Items;
        var dry = await w.ExpireAsync(dryRun: true);
        Assert.Equal(before, await ListAsync());
        Assert.Equal(rowsBefore, (await w.Catalog.ListBackupsAsync(ClusterScope.All, new PageRequest(0, 100), Ct)).Items);
        Assert.Equal(0, dry.ObjectsDeleted);
        Assert.True(dry.Objects > 0 && dry.Bytes > 0);

        var real = await w.ExpireAsync();
        var after = await ListAsync();
        var gone = before.ExceptBy(after.Select(o => o.Key), o => o.Key).ToList();
        Assert.Equal(dry.Objects, real.ObjectsDeleted);
        Assert.Equal(dry.Bytes, real.BytesDeleted);
        Assert.Equal(gone.Count, real.ObjectsDeleted);
        Assert.Equal(gone.Sum(o => o.SizeBytes), real.BytesDeleted);
        Assert.Equal(gone.Select(o => o.Key).Order(StringComparer.Ordinal),
            dry.Plans.SelectMany(p => p.Plan.BaseBackups.SelectMany(b => b.Objects).Concat(p.Plan.Wal).Concat(p.Plan.Other)).Select(o => o.Key).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Backups_left_in_a_location_the_cluster_no_longer_uses_are_inactive_there()
    {
        await using var w = await BuildAsync(3, withRemovedCluster: false);
        var previous = new InMemoryObjectStore(w.Clock);
        var left = new SyntheticRepository(previous, w.Clock, Cluster);
        w.Clock.Set(T0);
        await left.StartChainAsync("before", 0x10);
        await left.BaseBackupAsync("b0");
        await left.WalAsync();
        var locations = new Dictionary<string, IObjectStore> { ["local"] = w.Store, ["previous"] = previous };

        w.Clock.Set(T0.AddDays(5)); // inside the window: kept
        var runner = new ExpiryRunner(w.Options, locations, w.Catalog, w.Clock, NullLogger.Instance);
        await runner.RunAsync(null, dryRun: false, null, Ct);
        Assert.Single(await RepositoryScanner.ScanAsync(previous, null, Ct));

        w.Clock.Set(T0.AddDays(8)); // outside: the newest chain of a configured cluster, but not where the cluster backs up now
        var report = await runner.RunAsync(null, dryRun: false, null, Ct);
        Assert.Contains(report.Plans, p => p.Location == "previous" && p.Plan.Whole);
        Assert.Empty(await RepositoryScanner.ScanAsync(previous, null, Ct));
        Assert.DoesNotContain(report.Plans, p => p.Location == "local" && p.Plan.Whole);
    }
}

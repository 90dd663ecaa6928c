using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Engine.Retention;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>What expiry deletes, decided from a (synthetic) repository and a given now: edge cases as small scenarios.</summary>
public sealed class ExpiryPlannerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);
    private const string Cluster = "6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f";
    private static readonly RetentionPolicy Week = new(7, 0, Configured: true);

    private static SyntheticRepository NewRepository(out ManualClock clock)
    {
        clock = new ManualClock(T0);
        return new SyntheticRepository(new InMemoryObjectStore(clock), clock, Cluster);
    }

    /// <summary>One base backup a day at midnight for <paramref name="days"/> days, four segments a day.</summary>
    private static async Task<SyntheticRepository> DailyAsync(int days, Func<SyntheticRepository, int, Task>? extra = null)
    {
        var repo = NewRepository(out var clock);
        await repo.StartChainAsync("daily", 0x10);
        for (var d = 0; d < days; d++)
        {
            clock.Set(T0.AddDays(d));
            await repo.BaseBackupAsync($"day{d:D2}");
            for (var h = 0; h < 4; h++)
            {
                clock.Set(T0.AddDays(d).AddHours(h * 6 + 1));
                await repo.WalAsync();
            }

            if (extra is not null)
                await extra(repo, d);
        }

        return repo;
    }

    private static string[] Labels(ChainExpiryPlan plan) => [.. plan.BaseBackups.Select(b => b.Label)];

    [Fact]
    public async Task Keeps_the_newest_base_backup_ending_at_or_before_the_window_start_and_everything_later()
    {
        var repo = await DailyAsync(12);
        var chain = await repo.ScanAsync();
        var now = T0.AddDays(10).AddHours(5); // window start: day 3, 05:00 → day03 (ended 00:10) keeps it restorable
        var plan = ExpiryPlanner.PlanChain(chain, Week, active: true, mayGoWhole: false, now);

        Assert.False(plan.Whole);
        Assert.Equal(["day00", "day01", "day02"], Labels(plan));
        Assert.All(plan.BaseBackups, b => Assert.EndsWith("/backup.complete", b.Objects[0].Key, StringComparison.Ordinal));
        Assert.All(plan.BaseBackups, b => Assert.EndsWith("/backup.json", b.Objects[^1].Key, StringComparison.Ordinal));
        var day03 = chain.BaseBackups.Single(b => b.Label == "day03").Metadata!;
        var cut = WalSegment.Number(Lsn.Parse(day03.StartLsn));
        Assert.Equal(WalSegment.Start(cut), plan.NewWalStart);
        Assert.Equal(day03.CompletedAt, plan.NewWindowStart);
        Assert.All(plan.Wal, w => Assert.True(chain.Wal.Single(x => x.Key == w.Key).Segment < cut));
        Assert.Equal(chain.Wal.Count(w => w.Segment < cut), plan.Wal.Count);
        Assert.Equal(plan.Wal.OrderBy(w => w.Key, StringComparer.Ordinal).Select(w => w.Key), plan.Wal.Select(w => w.Key)); // oldest first

        // The window start exactly at a base backup's end keeps that one as the oldest.
        var exact = ExpiryPlanner.PlanChain(chain, Week, true, false, day03.CompletedAt.AddDays(7));
        Assert.Equal(["day00", "day01", "day02"], Labels(exact));
    }

    [Fact]
    public async Task A_base_backup_a_kept_incremental_one_needs_stays_and_the_plan_says_why()
    {
        // day00 full, then incr on each later day, each referring to all before it; day05 a diff of day00.
        var repo = NewRepository(out var clock);
        await repo.StartChainAsync("incr", 0x10);
        var labels = new List<string>();
        for (var d = 0; d < 12; d++)
        {
            clock.Set(T0.AddDays(d));
            var label = $"day{d:D2}";
            if (d == 0)
                await repo.BaseBackupAsync(label);
            else if (d == 5)
                await repo.BaseBackupAsync(label, references: ["day00"], type: BaseBackupType.Diff);
            else
                await repo.BaseBackupAsync(label, references: [.. labels], type: BaseBackupType.Incr);
            labels.Add(label);
            clock.Set(T0.AddDays(d).AddHours(1));
            await repo.WalAsync();
        }

        var chain = await repo.ScanAsync();
        var plan = ExpiryPlanner.PlanChain(chain, Week, active: true, mayGoWhole: false, T0.AddDays(10).AddHours(5)); // window start: day03
        // Every incremental base backup from day03 on needs day00..day02 (day05's diff needs day00): nothing goes.
        Assert.Empty(plan.BaseBackups);
        Assert.Equal(["day00: needed by day03, day04, day05, day06, day07, day08, day09, day10, day11", "day01: needed by day03, day04, day06, day07, day08, day09, day10, day11",
            "day02: needed by day03, day04, day06, day07, day08, day09, day10, day11"], plan.KeptAsReferences);
        // The WAL before the oldest kept restorable base backup goes: the kept references are applied, never replayed from.
        Assert.NotEmpty(plan.Wal);
        Assert.Equal(chain.BaseBackups.Single(b => b.Label == "day03").Metadata!.CompletedAt, plan.NewWindowStart);

        // A repository missing a reference: the incremental base backups that need it are not restorable.
        var broken = chain with { BaseBackups = [.. chain.BaseBackups.Where(b => b.Label != "day01")] };
        var restorable = broken.BaseBackups.Where(b => BaseBackup.IncrementalPlanner.Restorable(b, broken.BaseBackups)).Select(b => b.Label);
        Assert.Equal(["day00", "day05"], restorable);
    }

    [Fact]
    public async Task Nothing_goes_when_no_base_backup_is_old_enough()
    {
        var repo = await DailyAsync(5);
        var plan = ExpiryPlanner.PlanChain(await repo.ScanAsync(), Week, true, false, T0.AddDays(7).AddMinutes(5)); // day00 ends at 00:10
        Assert.True(plan.IsEmpty);
        Assert.Null(plan.NewWalStart);
        Assert.Equal(T0.AddMinutes(10), plan.NewWindowStart);
    }

    [Fact]
    public async Task MinBaseBackups_keeps_more_than_the_window_needs()
    {
        var repo = await DailyAsync(30);
        var chain = await repo.ScanAsync();
        var now = T0.AddDays(29).AddHours(12);
        Assert.Equal(22, ExpiryPlanner.PlanChain(chain, Week, true, false, now).BaseBackups.Count); // day22 covers the window start
        var plan = ExpiryPlanner.PlanChain(chain, Week with { MinBaseBackups = 10 }, true, false, now);
        Assert.Equal(Enumerable.Range(0, 20).Select(d => $"day{d:D2}"), Labels(plan));
        // More than exist: everything stays.
        Assert.True(ExpiryPlanner.PlanChain(chain, Week with { MinBaseBackups = 100 }, true, false, now).IsEmpty);
    }

    [Fact]
    public async Task Timelines_keep_all_wal_from_the_cut_on_every_timeline_and_the_history_of_the_oldest_kept_timeline_on()
    {
        var repo = await DailyAsync(12, async (r, d) =>
        {
            if (d == 3)
                await r.SwitchTimelineAsync(2);
            if (d == 6)
                await r.SwitchTimelineAsync(3);
        });
        var chain = await repo.ScanAsync();
        Assert.Equal(2, chain.HistoryKeys.Count);

        // Window start on day 5: day05 (timeline 2) is the oldest kept; 00000002.history stays.
        var plan = ExpiryPlanner.PlanChain(chain, Week, true, false, T0.AddDays(12).AddHours(2));
        Assert.DoesNotContain(plan.Wal, w => w.Key.EndsWith(".history", StringComparison.Ordinal));
        Assert.Contains(plan.Wal, w => w.Key.Contains("/wal/00000001/", StringComparison.Ordinal));
        Assert.Contains(plan.Wal, w => w.Key.Contains("/wal/00000002/", StringComparison.Ordinal));

        // Window start on day 8: day08 (timeline 3) is the oldest kept; 00000002.history goes, 00000003.history stays.
        plan = ExpiryPlanner.PlanChain(chain, Week, true, false, T0.AddDays(15).AddHours(2));
        Assert.Single(plan.Wal, w => w.Key.EndsWith("00000002.history", StringComparison.Ordinal));
        Assert.DoesNotContain(plan.Wal, w => w.Key.EndsWith("00000003.history", StringComparison.Ordinal));
        var cut = WalSegment.Number(Lsn.Parse(chain.BaseBackups.Single(b => b.Label == "day08").Metadata!.StartLsn));
        Assert.All(chain.Wal.Where(w => w.Segment >= cut), w => Assert.DoesNotContain(plan.Wal, x => x.Key == w.Key));
    }

    [Fact]
    public async Task Incomplete_base_backups_go_after_a_day_or_when_half_deleted_and_older_than_the_oldest_kept()
    {
        var repo = await DailyAsync(10, async (r, d) =>
        {
            if (d == 2)
                await r.BaseBackupAsync("day02-failed", complete: false, withMetadata: false);
            if (d == 3)
                await r.BaseBackupAsync("day03-nomarker", complete: false, withMetadata: true);
        });
        repo.Clock.Set(T0.AddDays(9).AddHours(23));
        await repo.BaseBackupAsync("day09-running", complete: false, withMetadata: false); // being written now
        var chain = await repo.ScanAsync();
        var now = repo.Clock.GetUtcNow();

        // Window start day 2, 23:10: only day00 and day01 go; the failed day02 is over a day old; day03-nomarker too.
        var plan = ExpiryPlanner.PlanChain(chain, Week, true, false, now);
        Assert.Equal(["day00", "day01", "day02-failed", "day03-nomarker"], Labels(plan));
        Assert.All(plan.BaseBackups.Where(b => b.Label.Contains('-', StringComparison.Ordinal)), b => Assert.False(b.Complete));

        // A moment after they were written, neither counts as abandoned; the running one never does.
        var young = ExpiryPlanner.PlanChain(chain, Week, true, false, T0.AddDays(3).AddHours(2));
        Assert.Empty(young.BaseBackups);
    }

    [Fact]
    public async Task A_base_backup_left_without_its_marker_goes_when_older_than_the_oldest_kept_however_recently_written()
    {
        var repo = await DailyAsync(10);
        // day00 lost its marker (an expiry stopped after deleting it), and its part was rewritten recently (a copied repository).
        await repo.Store.DeleteAsync([RepositoryLayout.BaseBackupComplete(Cluster, "daily", "day00")], TestContext.Current.CancellationToken);
        repo.Clock.Set(T0.AddDays(9).AddHours(2));
        using (var content = new MemoryStream(new byte[SyntheticRepository.PartBytes]))
            await repo.Store.WriteAsync(RepositoryLayout.BaseBackupPart(Cluster, "daily", "day00", 0), content, TestContext.Current.CancellationToken);

        var plan = ExpiryPlanner.PlanChain(await repo.ScanAsync(), Week, true, false, repo.Clock.GetUtcNow());
        Assert.Equal(["day00", "day01"], Labels(plan)); // day02 covers the window start (day 2, 02:00)
        Assert.False(plan.BaseBackups[0].Complete);
        Assert.Contains("no completion marker", plan.BaseBackups[0].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_newest_base_backup_whose_wal_is_not_stored_yet_does_not_count_as_covering_the_window()
    {
        var repo = await DailyAsync(9);
        repo.Clock.Set(T0.AddDays(9));
        await repo.BaseBackupAsync("day09"); // its end's segment is not stored: not restorable yet
        var plan = ExpiryPlanner.PlanChain(await repo.ScanAsync(), Week with { RetentionDays = 1 }, true, false, T0.AddDays(10).AddHours(1));
        Assert.DoesNotContain("day08", Labels(plan));
        Assert.Equal(8, plan.BaseBackups.Count);
    }

    [Fact]
    public async Task Inactive_chains_go_whole_once_outside_the_window_unless_nothing_newer_is_restorable()
    {
        var clock = new ManualClock(T0);
        var store = new InMemoryObjectStore(clock);
        var configured = new SyntheticRepository(store, clock, Cluster);
        await configured.StartChainAsync("old", 0x10);
        await configured.BaseBackupAsync("b0");
        await configured.WalAsync();
        clock.Set(T0.AddDays(2));
        await configured.StartChainAsync("new", 0x100); // re-initialised cluster
        await configured.BaseBackupAsync("b1");
        await configured.WalAsync();

        const string gone = "0a7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f";
        var removed = new SyntheticRepository(store, clock, gone);
        clock.Set(T0);
        await removed.StartChainAsync("left", 0x10);
        await removed.BaseBackupAsync("b0");
        await removed.WalAsync();

        var chains = await RepositoryScanner.ScanAsync(store, null, TestContext.Current.CancellationToken);
        RetentionPolicy Policy(string id) => id == Cluster ? Week : new RetentionPolicy(7, 0, Configured: false);

        // Day 8: the old chain's last write (day 0) is before the window start (day 1); the new one is active.
        var plans = ExpiryPlanner.Plan(chains, Policy, T0.AddDays(8));
        var old = plans.Single(p => p.Chain.ChainId == "old");
        Assert.True(old.Whole);
        Assert.Equal(RepositoryLayout.Chain(Cluster, "old"), old.Other[0].Key);
        Assert.Equal(old.Chain.Objects.Count, old.Objects);
        Assert.False(plans.Single(p => p.Chain.ChainId == "new").Whole);
        Assert.True(plans.Single(p => p.Chain.ClusterId == gone).Whole); // its cluster is no longer configured

        // Day 3: still inside the window: nothing goes whole.
        Assert.DoesNotContain(ExpiryPlanner.Plan(chains, Policy, T0.AddDays(3)), p => p.Whole);

        // The newer chain has nothing restorable: the old one stays however old.
        var unrestorable = chains.Select(c => c.ChainId == "new" ? c with { BaseBackups = [] } : c).ToList();
        Assert.False(ExpiryPlanner.Plan(unrestorable, Policy, T0.AddDays(30)).Single(p => p.Chain.ChainId == "old").Whole);

        // A chain without chain.json (an interrupted whole expiry) always goes whole.
        var orphan = chains.Single(c => c.ChainId == "old") with { Metadata = null };
        Assert.True(ExpiryPlanner.Plan([orphan], Policy, T0).Single().Whole);
    }

    [Fact]
    public async Task An_inactive_chain_expired_in_part_still_goes_whole_once_its_last_wal_leaves_the_window()
    {
        var clock = new ManualClock(T0);
        var store = new InMemoryObjectStore(clock);
        var repo = new SyntheticRepository(store, clock, Cluster);
        await repo.StartChainAsync("old", 0x10);
        for (var d = 0; d < 10; d++)
        {
            clock.Set(T0.AddDays(d));
            await repo.BaseBackupAsync($"day{d:D2}");
            await repo.WalAsync();
        }

        clock.Set(T0.AddDays(10));
        await repo.StartChainAsync("new", 0x100);
        await repo.BaseBackupAsync("new00");
        await repo.WalAsync();
        using var dir = new TempDirectory("planner-catalog");
        var catalog = new PgVault.Catalog.Sqlite.SqliteCatalog($"Data Source={Path.Combine(dir.Path, "catalog.db")};Pooling=false");
        await catalog.MigrateAsync(TestContext.Current.CancellationToken);
        RetentionPolicy Policy(string _) => Week;

        // Day 12: the old chain ended (day 9) inside the window: expired in part only; that writes expiry.json.
        clock.Set(T0.AddDays(12));
        var chains = await RepositoryScanner.ScanAsync(store, null, TestContext.Current.CancellationToken);
        var partial = ExpiryPlanner.Plan(chains, Policy, clock.GetUtcNow()).Single(p => p.Chain.ChainId == "old");
        Assert.False(partial.Whole);
        Assert.NotEmpty(partial.BaseBackups);
        await new ExpiryExecutor(store, catalog, clock, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
            .ExecuteAsync(partial, null, TestContext.Current.CancellationToken);

        // Day 17: its last WAL (day 9) is before the window start (day 10): whole, although expiry.json is from day 12.
        clock.Set(T0.AddDays(17));
        chains = await RepositoryScanner.ScanAsync(store, null, TestContext.Current.CancellationToken);
        Assert.NotNull(chains.Single(c => c.ChainId == "old").Expiry);
        Assert.True(ExpiryPlanner.Plan(chains, Policy, clock.GetUtcNow()).Single(p => p.Chain.ChainId == "old").Whole);
    }
}

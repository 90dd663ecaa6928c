using PgVault.Catalog;
using PgVault.Errors;
using Xunit;

namespace PgVault.Catalog.Tests;

/// <summary>
/// What every <see cref="ICatalog"/> must do. Subclassed once per implementation (SQLite, PostgreSQL); each test gets
/// its own, empty catalog.
/// </summary>
public abstract class CatalogContract
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>A new, empty, not yet migrated catalog of its own.</summary>
    protected abstract Task<ICatalog> CreateCatalogAsync(string name);

    /// <summary>A second catalog on the same database, as another pgvault process would open it.</summary>
    protected abstract ICatalog OpenAgain(ICatalog catalog);

    /// <summary>Runs raw SQL against the catalog's database.</summary>
    protected abstract Task ExecuteSqlAsync(ICatalog catalog, string sql);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<ICatalog> MigratedAsync(string name)
    {
        var catalog = await CreateCatalogAsync(name);
        await catalog.MigrateAsync(Ct);
        return catalog;
    }

    internal static BackupRecord Backup(string id, string cluster, DateTimeOffset created, long size = 0) => new()
    {
        Id = id,
        ClusterId = cluster,
        CreatedDate = created,
        State = BackupState.Available,
        Version = "15",
        IsActive = false,
        SizeBytes = size,
        Location = "local",
    };

    [Fact]
    public async Task Migrate_is_idempotent_and_safe_to_run_concurrently()
    {
        var catalog = await CreateCatalogAsync(nameof(Migrate_is_idempotent_and_safe_to_run_concurrently));
        await Task.WhenAll(catalog.MigrateAsync(Ct), catalog.MigrateAsync(Ct), catalog.MigrateAsync(Ct));
        await catalog.MigrateAsync(Ct);
        await catalog.PingAsync(Ct);
        var page = await catalog.ListBackupsAsync(ClusterScope.All, new PageRequest(0, 10), Ct);
        Assert.Empty(page.Items);
        Assert.False(page.HasMore);
    }

    [Fact]
    public async Task Migrate_refuses_a_schema_newer_than_the_code()
    {
        var catalog = await MigratedAsync(nameof(Migrate_refuses_a_schema_newer_than_the_code));
        await ExecuteSqlAsync(catalog, "INSERT INTO schema_version (version) VALUES (9999)");
        var ex = await Assert.ThrowsAsync<PgVaultException>(() => catalog.MigrateAsync(Ct));
        Assert.Equal(ErrorCode.CatalogSchemaTooNew, ex.Code);
        Assert.Contains("9999", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_backup_round_trips_every_field()
    {
        var catalog = await MigratedAsync(nameof(A_backup_round_trips_every_field));
        var full = new BackupRecord
        {
            Id = "3fa85f64-5717-4562-b3fc-2c963f66afa6-4l7r-15",
            ClusterId = "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            CreatedDate = T0.AddTicks(1234560), // microsecond precision survives
            State = BackupState.Degraded,
            Version = "15",
            IsActive = true,
            EarliestRecoveryTargetTime = T0.AddMinutes(5).AddTicks(10),
            SizeBytes = 5L * 1024 * 1024 * 1024,
            Location = "s3-eu",
            SystemIdentifier = "7318839290234081234",
            Timeline = 3,
            StartLsn = 0x0000_0001_0000_0028,
            EndLsn = ulong.MaxValue - 1,
        };
        var sparse = Backup("sparse", "c2", T0);
        await catalog.SaveBackupsAsync([full, sparse], Ct);

        Assert.Equal(full, await catalog.GetBackupAsync(full.Id, Ct));
        Assert.Equal(sparse, await catalog.GetBackupAsync("sparse", Ct));
        Assert.Null(await catalog.GetBackupAsync("missing", Ct));
        Assert.Null(await catalog.GetBackupAsync("SPARSE", Ct)); // ids are case-sensitive
    }

    [Fact]
    public async Task Saving_an_existing_id_replaces_the_record()
    {
        var catalog = await MigratedAsync(nameof(Saving_an_existing_id_replaces_the_record));
        await catalog.SaveBackupsAsync([Backup("b1", "c1", T0) with { State = BackupState.Busy }], Ct);
        var updated = Backup("b1", "c1", T0) with { State = BackupState.Available, SizeBytes = 42, EarliestRecoveryTargetTime = T0 };
        await catalog.SaveBackupsAsync([updated], Ct);
        Assert.Equal(updated, await catalog.GetBackupAsync("b1", Ct));
        var all = await catalog.ListBackupsAsync(ClusterScope.All, new PageRequest(0, 10), Ct);
        Assert.Single(all.Items);
    }

    [Fact]
    public async Task A_failing_batch_stores_nothing()
    {
        var catalog = await MigratedAsync(nameof(A_failing_batch_stores_nothing));
        var good = Backup("good", "c1", T0);
        var bad = Backup("bad", "c1", T0) with { Location = null! }; // violates NOT NULL in the database
        await Assert.ThrowsAnyAsync<Exception>(() => catalog.SaveBackupsAsync([good, bad], Ct));
        Assert.Null(await catalog.GetBackupAsync("good", Ct));
    }

    [Fact]
    public async Task Delete_says_whether_the_backup_existed()
    {
        var catalog = await MigratedAsync(nameof(Delete_says_whether_the_backup_existed));
        await catalog.SaveBackupsAsync([Backup("b1", "c1", T0)], Ct);
        Assert.True(await catalog.DeleteBackupAsync("b1", Ct));
        Assert.False(await catalog.DeleteBackupAsync("b1", Ct));
        Assert.Null(await catalog.GetBackupAsync("b1", Ct));
    }

    [Fact]
    public async Task Listing_is_newest_first_then_by_id()
    {
        var catalog = await MigratedAsync(nameof(Listing_is_newest_first_then_by_id));
        await catalog.SaveBackupsAsync(
        [
            Backup("b", "c1", T0), Backup("a", "c1", T0), Backup("old", "c2", T0.AddDays(-1)),
            Backup("new", "c2", T0.AddDays(1)), Backup("A", "c1", T0), Backup("a-1", "c3", T0.AddTicks(10)),
        ], Ct);
        var page = await catalog.ListBackupsAsync(ClusterScope.All, new PageRequest(0, 100), Ct);
        // Ties on created are broken by id in ordinal (bytewise) order: "A" < "a" < "b".
        Assert.Equal(["new", "a-1", "A", "a", "b", "old"], page.Items.Select(b => b.Id));
        Assert.False(page.HasMore);
    }

    [Fact]
    public async Task Pages_concatenate_to_the_whole_listing_for_any_limit()
    {
        var catalog = await MigratedAsync(nameof(Pages_concatenate_to_the_whole_listing_for_any_limit));
        var random = new Random(20261126);
        var clusters = Enumerable.Range(0, 7).Select(i => $"cluster-{i}").ToArray();
        var all = Enumerable.Range(0, 337)
            // few distinct times, so many ties exercise the id tie-break
            .Select(i => Backup($"backup-{random.Next():x8}-{i}", clusters[random.Next(clusters.Length)], T0.AddMinutes(random.Next(40))))
            .ToList();
        await catalog.SaveBackupsAsync(all, Ct);
        var expected = all.OrderByDescending(b => b.CreatedDate).ThenBy(b => b.Id, StringComparer.Ordinal).ToList();

        foreach (var limit in new[] { 1, 2, 7, 50, 100, 336, 337, 338, 1000 })
        {
            var seen = new List<BackupRecord>();
            for (var offset = 0; ; offset += limit)
            {
                var page = await catalog.ListBackupsAsync(ClusterScope.All, new PageRequest(offset, limit), Ct);
                Assert.True(page.Items.Count <= limit);
                seen.AddRange(page.Items);
                Assert.Equal(offset + limit < all.Count, page.HasMore);
                if (!page.HasMore)
                    break;
            }

            Assert.Equal(expected.Select(b => b.Id), seen.Select(b => b.Id));
        }

        var beyond = await catalog.ListBackupsAsync(ClusterScope.All, new PageRequest(10_000, 10), Ct);
        Assert.Empty(beyond.Items);
        Assert.False(beyond.HasMore);

        // A scope of some clusters lists exactly their backups, in the same order.
        var some = ClusterScope.Only([clusters[1], clusters[4]]);
        var scoped = await catalog.ListBackupsAsync(some, new PageRequest(0, 1000), Ct);
        Assert.Equal(expected.Where(b => some.Allows(b.ClusterId)).Select(b => b.Id), scoped.Items.Select(b => b.Id));
        var single = await catalog.ListBackupsAsync(ClusterScope.Only([clusters[2]]), new PageRequest(3, 5), Ct);
        Assert.Equal(expected.Where(b => b.ClusterId == clusters[2]).Skip(3).Take(5).Select(b => b.Id), single.Items.Select(b => b.Id));
    }

    [Fact]
    public async Task An_empty_scope_sees_nothing()
    {
        var catalog = await MigratedAsync(nameof(An_empty_scope_sees_nothing));
        await catalog.SaveBackupsAsync([Backup("b1", "c1", T0)], Ct);
        var page = await catalog.ListBackupsAsync(ClusterScope.Only([]), new PageRequest(0, 10), Ct);
        Assert.Empty(page.Items);
        var other = await catalog.ListBackupsAsync(ClusterScope.Only(["c2"]), new PageRequest(0, 10), Ct);
        Assert.Empty(other.Items);
    }

    [Fact]
    public async Task A_cluster_keeps_its_created_date_and_known_version_across_upserts()
    {
        var catalog = await MigratedAsync(nameof(A_cluster_keeps_its_created_date_and_known_version_across_upserts));
        var first = new ClusterRecord
        {
            Id = "c1", DisplayName = "one", CreatedDate = T0, State = ClusterState.Available, PostgresVersion = "15", BackupLocation = "local",
        };
        await catalog.UpsertClusterAsync(first, Ct);
        await catalog.UpsertClusterAsync(first with
        {
            DisplayName = "renamed", CreatedDate = T0.AddDays(3), State = ClusterState.Unknown, PostgresVersion = null, BackupLocation = "s3",
        }, Ct);
        var stored = await catalog.GetClusterAsync("c1", Ct);
        Assert.Equal(first with { DisplayName = "renamed", State = ClusterState.Unknown, BackupLocation = "s3" }, stored);
        Assert.Null(await catalog.GetClusterAsync("c2", Ct));

        await catalog.UpsertClusterAsync(first with { Id = "c0", CreatedDate = T0.AddDays(1) }, Ct);
        await catalog.UpsertClusterAsync(first with { Id = "c2", CreatedDate = T0 }, Ct);
        var page = await catalog.ListClustersAsync(ClusterScope.All, new PageRequest(0, 2), null, Ct);
        Assert.Equal(["c0", "c1"], page.Items.Select(c => c.Id));
        Assert.True(page.HasMore);
        var scoped = await catalog.ListClustersAsync(ClusterScope.Only(["c2"]), new PageRequest(0, 10), null, Ct);
        Assert.Equal(["c2"], scoped.Items.Select(c => c.Id));
    }

    [Fact]
    public async Task Clusters_are_filtered_by_a_case_insensitive_part_of_their_display_name()
    {
        var catalog = await MigratedAsync(nameof(Clusters_are_filtered_by_a_case_insensitive_part_of_their_display_name));
        var names = new[] { "Orders-Prod", "orders_test", "Billing", "100% sure", "a!b" };
        for (var i = 0; i < names.Length; i++)
        {
            await catalog.UpsertClusterAsync(new ClusterRecord
            {
                Id = "c" + i, DisplayName = names[i], CreatedDate = T0.AddDays(i), State = ClusterState.Available, BackupLocation = "local",
            }, Ct);
        }

        async Task<IEnumerable<string>> Names(string filter, ClusterScope? scope = null) =>
            (await catalog.ListClustersAsync(scope ?? ClusterScope.All, new PageRequest(0, 10), filter, Ct)).Items.Select(c => c.DisplayName);
        Assert.Equal(["orders_test", "Orders-Prod"], await Names("ORDERS"));
        Assert.Equal(["orders_test"], await Names("s_t")); // '_' is a character, not a wildcard
        Assert.Equal(["100% sure"], await Names("0%"));
        Assert.Equal(["a!b"], await Names("!"));
        Assert.Empty(await Names("nothing"));
        Assert.Equal(["Orders-Prod"], await Names("orders", ClusterScope.Only(["c0", "c2"])));
        var paged = await catalog.ListClustersAsync(ClusterScope.All, new PageRequest(0, 1), "o", Ct);
        Assert.Equal(["orders_test"], paged.Items.Select(c => c.DisplayName));
        Assert.True(paged.HasMore);
    }

    [Fact]
    public async Task The_active_backup_of_a_cluster_is_found()
    {
        var catalog = await MigratedAsync(nameof(The_active_backup_of_a_cluster_is_found));
        Assert.Null(await catalog.GetActiveBackupAsync("c1", Ct));
        await catalog.SaveBackupsAsync(
        [
            Backup("old", "c1", T0) with { IsActive = false },
            Backup("current", "c1", T0.AddDays(1)) with { IsActive = true },
            Backup("other", "c2", T0.AddDays(2)) with { IsActive = true },
        ], Ct);
        Assert.Equal("current", (await catalog.GetActiveBackupAsync("c1", Ct))?.Id);
        Assert.Equal("other", (await catalog.GetActiveBackupAsync("c2", Ct))?.Id);
    }

    [Fact]
    public async Task Base_backups_round_trip_in_start_order_and_go_with_their_backup()
    {
        var catalog = await MigratedAsync(nameof(Base_backups_round_trip_in_start_order_and_go_with_their_backup));
        await catalog.SaveBackupsAsync([Backup("chain", "c1", T0)], Ct);
        var running = new BaseBackupRecord
        {
            BackupId = "chain", Label = "20260101T120500Z", State = BaseBackupState.Running, Timeline = 1,
            StartedAt = T0.AddMinutes(5), StartLsn = 0x3000028, Type = "incr",
        };
        var done = new BaseBackupRecord
        {
            BackupId = "chain", Label = "20260101T120000Z", State = BaseBackupState.Complete, Timeline = 1, StartLsn = 0x2000028,
            EndLsn = 0x2000100, StartedAt = T0, CompletedAt = T0.AddSeconds(30), SizeBytes = 1234, DatabaseBytes = 99999,
        };
        await catalog.SaveBaseBackupAsync(running, Ct);
        await catalog.SaveBaseBackupAsync(done, Ct);
        Assert.Equal([done, running], await catalog.ListBaseBackupsAsync("chain", Ct));

        var failed = running with { State = BaseBackupState.Failed, Error = "pg_basebackup exited with 1" };
        await catalog.SaveBaseBackupAsync(failed, Ct);
        Assert.Equal([done, failed], await catalog.ListBaseBackupsAsync("chain", Ct));
        Assert.Equal(["full", "incr"], (await catalog.ListBaseBackupsAsync("chain", Ct)).Select(b => b.Type));
        var diff = done with { Type = "diff" }; // the type taken replaces the type asked for
        await catalog.SaveBaseBackupAsync(diff, Ct);
        Assert.Equal("diff", (await catalog.ListBaseBackupsAsync("chain", Ct))[0].Type);

        Assert.True(await catalog.DeleteBackupAsync("chain", Ct));
        Assert.Empty(await catalog.ListBaseBackupsAsync("chain", Ct));
    }

    [Fact]
    public async Task Cluster_periods_open_once_close_and_list_newest_first()
    {
        var catalog = await MigratedAsync(nameof(Cluster_periods_open_once_close_and_list_newest_first));
        ClusterPeriodRecord Period(string kind, int minutes, string cluster = "c1") => new()
        {
            ClusterId = cluster, BackupId = "chain", Kind = kind, Start = T0.AddMinutes(minutes), Reason = $"{kind} at {minutes}",
        };

        Assert.True(await catalog.OpenClusterPeriodAsync(Period(ClusterPeriodRecord.Interrupted, 1), T0.AddDays(-7), Ct));
        // One open period per cluster and kind: a second beginning while it is open changes nothing.
        Assert.False(await catalog.OpenClusterPeriodAsync(Period(ClusterPeriodRecord.Interrupted, 2), T0.AddDays(-7), Ct));
        Assert.True(await catalog.OpenClusterPeriodAsync(Period(ClusterPeriodRecord.Degraded, 3), T0.AddDays(-7), Ct));
        Assert.True(await catalog.OpenClusterPeriodAsync(Period(ClusterPeriodRecord.Interrupted, 1, "c2") with { BackupId = null }, T0.AddDays(-7), Ct));
        // A period given with its end is recorded as it is, beside an open one of the same kind.
        var ended = Period(ClusterPeriodRecord.Ended, 4) with { End = T0.AddMinutes(4) };
        Assert.True(await catalog.OpenClusterPeriodAsync(ended, T0.AddDays(-7), Ct));
        Assert.True(await catalog.OpenClusterPeriodAsync(ended with { Start = T0.AddMinutes(5), End = T0.AddMinutes(5) }, T0.AddDays(-7), Ct));

        Assert.Equal(1, await catalog.CloseClusterPeriodsAsync("c1", ClusterPeriodRecord.Interrupted, T0.AddMinutes(6), Ct));
        Assert.Equal(0, await catalog.CloseClusterPeriodsAsync("c1", ClusterPeriodRecord.Interrupted, T0.AddMinutes(7), Ct));
        // An end before the start (clocks) is taken as the start.
        Assert.Equal(1, await catalog.CloseClusterPeriodsAsync("c1", ClusterPeriodRecord.Degraded, T0, Ct));

        var periods = await catalog.ListClusterPeriodsAsync("c1", T0.AddDays(-1), 100, Ct);
        Assert.Equal(
        [
            ended with { Start = T0.AddMinutes(5), End = T0.AddMinutes(5) },
            ended,
            Period(ClusterPeriodRecord.Degraded, 3) with { End = T0.AddMinutes(3) },
            Period(ClusterPeriodRecord.Interrupted, 1) with { End = T0.AddMinutes(6) },
        ], periods);
        Assert.Equal(2, (await catalog.ListClusterPeriodsAsync("c1", T0.AddDays(-1), 2, Ct)).Count);
        // Ended before "since": left out.
        Assert.Equal([ClusterPeriodRecord.Ended, ClusterPeriodRecord.Interrupted],
            (await catalog.ListClusterPeriodsAsync("c1", T0.AddMinutes(5), 100, Ct)).Select(p => p.Kind));
        var other = Assert.Single(await catalog.ListClusterPeriodsAsync("c2", T0.AddDays(1), 100, Ct));
        Assert.Null(other.BackupId);
        Assert.Null(other.End);
        Assert.Empty(await catalog.ListClusterPeriodsAsync("c3", T0.AddDays(-1), 100, Ct));
    }

    [Fact]
    public async Task Cluster_periods_are_pruned_to_the_retention_window_and_a_bounded_number()
    {
        var catalog = await MigratedAsync(nameof(Cluster_periods_are_pruned_to_the_retention_window_and_a_bounded_number));
        ClusterPeriodRecord Ended(string cluster, int minutes) => new()
        {
            ClusterId = cluster, Kind = ClusterPeriodRecord.Ended, Start = T0.AddMinutes(minutes), End = T0.AddMinutes(minutes), Reason = "r",
        };
        var open = new ClusterPeriodRecord { ClusterId = "c1", Kind = ClusterPeriodRecord.Interrupted, Start = T0.AddDays(-30), Reason = "down" };
        Assert.True(await catalog.OpenClusterPeriodAsync(open, T0.AddDays(-40), Ct));
        for (var i = 0; i < 10; i++)
            await catalog.OpenClusterPeriodAsync(Ended("c1", i), T0.AddDays(-40), Ct);
        await catalog.OpenClusterPeriodAsync(Ended("c2", 0), T0.AddDays(-40), Ct);

        // A new period prunes the cluster's periods that ended before the cutoff; open ones and other clusters' stay.
        await catalog.OpenClusterPeriodAsync(Ended("c1", 100), T0.AddMinutes(5), Ct);
        var left = await catalog.ListClusterPeriodsAsync("c1", DateTimeOffset.UnixEpoch, 2000, Ct);
        Assert.Equal([100, 9, 8, 7, 6, 5, -43200], left.Select(p => (int)(p.Start - T0).TotalMinutes));
        Assert.Single(await catalog.ListClusterPeriodsAsync("c2", DateTimeOffset.UnixEpoch, 2000, Ct));

        // At most MaxPerCluster are kept: the oldest ended ones go.
        for (var i = 0; i < ClusterPeriodRecord.MaxPerCluster + 5; i++)
            await catalog.OpenClusterPeriodAsync(Ended("c3", i), T0.AddDays(-40), Ct);
        var kept = await catalog.ListClusterPeriodsAsync("c3", DateTimeOffset.UnixEpoch, 5000, Ct);
        Assert.Equal(ClusterPeriodRecord.MaxPerCluster, kept.Count);
        Assert.Equal(ClusterPeriodRecord.MaxPerCluster + 4, (int)(kept[0].Start - T0).TotalMinutes);
        Assert.Equal(5, (int)(kept[^1].Start - T0).TotalMinutes);
    }

    [Fact]
    public async Task One_base_backup_can_be_deleted_and_delete_says_whether_it_existed()
    {
        var catalog = await MigratedAsync(nameof(One_base_backup_can_be_deleted_and_delete_says_whether_it_existed));
        await catalog.SaveBackupsAsync([Backup("chain", "c1", T0), Backup("other", "c1", T0.AddDays(1))], Ct);
        BaseBackupRecord Base(string backupId, string label, int minutes) => new()
        {
            BackupId = backupId, Label = label, State = BaseBackupState.Complete, Timeline = 1, StartLsn = 0x2000028, EndLsn = 0x2000100,
            StartedAt = T0.AddMinutes(minutes), CompletedAt = T0.AddMinutes(minutes + 1),
        };
        await catalog.SaveBaseBackupAsync(Base("chain", "a", 0), Ct);
        await catalog.SaveBaseBackupAsync(Base("chain", "b", 10), Ct);
        await catalog.SaveBaseBackupAsync(Base("other", "a", 0), Ct);

        Assert.True(await catalog.DeleteBaseBackupAsync("chain", "a", Ct));
        Assert.False(await catalog.DeleteBaseBackupAsync("chain", "a", Ct));
        Assert.Equal(["b"], (await catalog.ListBaseBackupsAsync("chain", Ct)).Select(b => b.Label));
        Assert.Equal(["a"], (await catalog.ListBaseBackupsAsync("other", Ct)).Select(b => b.Label));
        Assert.NotNull(await catalog.GetBackupAsync("chain", Ct)); // the backup itself stays
    }

    [Fact]
    public async Task Deep_pages_stay_right_as_backups_come_and_go()
    {
        var catalog = await MigratedAsync(nameof(Deep_pages_stay_right_as_backups_come_and_go));
        var all = Enumerable.Range(0, 700).Select(i => Backup($"b{i:D4}", $"c{i % 3}", T0.AddSeconds(i / 2))).ToList();
        await catalog.SaveBackupsAsync(all, Ct);

        async Task AssertPagesAsync()
        {
            var expected = all.OrderByDescending(b => b.CreatedDate).ThenBy(b => b.Id, StringComparer.Ordinal).Select(b => b.Id).ToList();
            foreach (var offset in new[] { 0, 1, 255, 256, 257, 511, 512, 513, expected.Count - 1, expected.Count, expected.Count + 300 })
            {
                var page = await catalog.ListBackupsAsync(ClusterScope.All, new PageRequest(offset, 10), Ct);
                Assert.Equal(expected.Skip(offset).Take(10), page.Items.Select(b => b.Id));
                Assert.Equal(offset + 10 < expected.Count, page.HasMore);
            }
        }

        await AssertPagesAsync();
        // Newer backups shift every page; an update of an existing one shifts nothing.
        var newer = Enumerable.Range(0, 40).Select(i => Backup($"n{i:D2}", "c9", T0.AddDays(1).AddSeconds(i))).ToList();
        await catalog.SaveBackupsAsync(newer, Ct);
        all.AddRange(newer);
        await catalog.SaveBackupsAsync([all[5] with { State = BackupState.Degraded, SizeBytes = 77 }], Ct);
        await AssertPagesAsync();
        foreach (var id in new[] { "b0000", "b0300", "n05" })
        {
            Assert.True(await catalog.DeleteBackupAsync(id, Ct));
            all.RemoveAll(b => b.Id == id);
        }

        await AssertPagesAsync();
    }

    [Fact]
    public async Task The_change_feed_reports_every_write_after_a_position_in_order()
    {
        var catalog = await MigratedAsync(nameof(The_change_feed_reports_every_write_after_a_position_in_order));
        var feed = Assert.IsAssignableFrom<IBackupChangeFeed>(catalog);
        var seen = new List<BackupRecord>();
        var p0 = await feed.ReadAllBackupsAsync(seen.Add, Ct);
        Assert.Empty(seen);
        var none = await feed.ReadBackupChangesAsync(p0, 100, Ct);
        Assert.NotNull(none);
        Assert.Equal(p0, none.Position);
        Assert.Empty(none.Changes);

        var writes = feed.LocalBackupWrites;
        await catalog.SaveBackupsAsync([Backup("a", "c1", T0), Backup("b", "c1", T0.AddSeconds(1)), Backup("c", "c2", T0)], Ct);
        Assert.Equal(writes + 1, feed.LocalBackupWrites);
        var first = await feed.ReadBackupChangesAsync(p0, 100, Ct);
        Assert.NotNull(first);
        Assert.True(first.Position > p0);
        Assert.Equal(["a", "b", "c"], first.Changes.Select(c => c.Id).Order(StringComparer.Ordinal));
        Assert.All(first.Changes, c => Assert.NotNull(c.Backup));

        await catalog.SaveBackupsAsync([Backup("b", "c1", T0.AddSeconds(1), size: 99)], Ct);
        Assert.True(await catalog.DeleteBackupAsync("a", Ct));
        Assert.False(await catalog.DeleteBackupAsync("nonexistent", Ct));
        var second = await feed.ReadBackupChangesAsync(first.Position, 100, Ct);
        Assert.NotNull(second);
        Assert.Equal(["b", "a"], second.Changes.Select(c => c.Id));
        Assert.Equal(99, second.Changes[0].Backup!.SizeBytes);
        Assert.Null(second.Changes[1].Backup);
        Assert.True(second.Changes[0].Sequence < second.Changes[1].Sequence);

        // Too many changes, or a position the catalog never had: read everything again.
        Assert.Null(await feed.ReadBackupChangesAsync(p0, 2, Ct));
        Assert.Null(await feed.ReadBackupChangesAsync(second.Position + 1000, 100, Ct));

        // Reading everything gives listing order and a position that continues without a gap.
        seen.Clear();
        var p1 = await feed.ReadAllBackupsAsync(seen.Add, Ct);
        Assert.Equal(["b", "c"], seen.Select(b => b.Id));
        Assert.Equal(second.Position, p1);
    }

    [Fact]
    public async Task Another_instance_sees_the_writes_of_this_one_through_the_change_feed()
    {
        var catalog = await MigratedAsync(nameof(Another_instance_sees_the_writes_of_this_one_through_the_change_feed));
        var other = OpenAgain(catalog);
        var reader = Assert.IsAssignableFrom<IBackupChangeFeed>(catalog);
        var position = await reader.ReadAllBackupsAsync(_ => { }, Ct);
        var localWrites = reader.LocalBackupWrites;

        await other.SaveBackupsAsync([Backup("x", "c1", T0)], Ct);
        await other.SaveBackupsAsync([Backup("x", "c1", T0) with { State = BackupState.Failed }], Ct);
        await other.SaveBackupsAsync([Backup("y", "c1", T0)], Ct);
        Assert.True(await other.DeleteBackupAsync("y", Ct));

        Assert.Equal(localWrites, reader.LocalBackupWrites); // not this instance's writes
        var changes = await reader.ReadBackupChangesAsync(position, 100, Ct);
        Assert.NotNull(changes);
        var last = changes.Changes.GroupBy(c => c.Id).ToDictionary(g => g.Key, g => g.Last().Backup);
        Assert.Equal(BackupState.Failed, last["x"]!.State);
        Assert.Null(last["y"]);
    }
}

using System.Globalization;
using PgVault.Engine.BaseBackup;
using PgVault.Engine.Repository;
using PgVault.Engine.Restore;
using PgVault.Engine.Retention;
using PgVault.Errors;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// Expiry with incremental base backups, as a property over random histories: random schedules of full, diff and incr
/// base backups (the references chosen by <see cref="IncrementalPlanner"/>, some base backups failing), random retention
/// windows and minimums, expiry run at random times and its plan applied to a synthetic repository. After every expiry:
/// every moment of the window that a restore reached before still restores (the restore planner's pick, all its layers
/// present and complete, its WAL whole to the chain's end), every complete base backup still has all it is applied over,
/// the base backups kept only as references are the ones the plan names with their dependents (what <c>--dry-run</c>
/// prints), and with no minimum count nothing older than the window needs is kept but a reference.
/// </summary>
/// <remarks>
/// Each history comes from one seed, printed with any failure; <c>PGVAULT_EXPIRY_SEED=N</c> replays seed N alone.
/// Pure: an in-memory store and a manual clock, no PostgreSQL.
/// </remarks>
public sealed class ExpiryDependencyPropertyTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 2, 0, 0, 0, TimeSpan.Zero);
    private const string Cluster = "3c1e7a52-9b0d-4f6e-8a21-5d4c3b2a1f00";
    private const int Seeds = 40;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>What the histories covered, summed over the seeds (so that the property is not checked vacuously).</summary>
    private sealed class Coverage
    {
        public int Expiries;
        public int BaseBackupsDeleted;
        public int KeptAsReferences;
        public int MomentsChecked;
        public int IncrementalRestores;
    }

    [Fact]
    public async Task Every_moment_of_the_window_stays_restorable_and_nothing_a_kept_base_backup_needs_is_deleted()
    {
        var seeds = Environment.GetEnvironmentVariable("PGVAULT_EXPIRY_SEED") is { Length: > 0 } one
            ? [int.Parse(one, CultureInfo.InvariantCulture)]
            : Enumerable.Range(1, Seeds).ToArray();
        var coverage = new Coverage();
        foreach (var seed in seeds)
        {
            try
            {
                await RunHistoryAsync(seed, coverage);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new Xunit.Sdk.XunitException($"seed {seed} (replay it with PGVAULT_EXPIRY_SEED={seed}): {ex.Message}", ex);
            }
        }

        if (seeds.Length == Seeds)
        {
            Assert.True(coverage.Expiries > 100, $"{coverage.Expiries} expiries");
            Assert.True(coverage.BaseBackupsDeleted > 40, $"{coverage.BaseBackupsDeleted} base backups deleted");
            Assert.True(coverage.KeptAsReferences > 10, $"{coverage.KeptAsReferences} base backups kept as references");
            Assert.True(coverage.IncrementalRestores > 200, $"{coverage.IncrementalRestores} restores of incremental base backups");
        }
    }

    private static async Task RunHistoryAsync(int seed, Coverage coverage)
    {
        var rng = new Random(seed);
        var clock = new ManualClock(T0);
        var store = new InMemoryObjectStore(clock);
        var repo = new SyntheticRepository(store, clock, Cluster);
        await repo.StartChainAsync("history", 0x10);

        var days = rng.Next(8, 30);
        var perDay = new[] { 1, 1, 2, 3, 4, 6 }[rng.Next(6)]; // base backups a day
        // Weights of full, diff and incr for this history (pgBackRest's words): anything from "incr every hour, full once"
        // to "mostly full".
        var weights = new[] { 1 + rng.Next(6), rng.Next(6), rng.Next(12) };
        var policy = new RetentionPolicy(rng.Next(1, 8), rng.Next(0, 3) == 0 ? rng.Next(1, 4) : 0, Configured: true);
        var expireChance = rng.NextDouble() * 0.8 + 0.2;
        var taken = 0;
        for (var d = 0; d < days; d++)
        {
            for (var s = 0; s < perDay; s++)
            {
                clock.Set(T0.AddDays(d).AddHours(24.0 * s / perDay));
                var type = taken == 0 ? BaseBackupType.Full : Pick(rng, weights);
                var scanned = await repo.ScanAsync();
                var choice = IncrementalPlanner.Choose(type, [.. scanned.BaseBackups.Select(WithBlockMap)]);
                var label = $"d{d:D2}s{s}-{choice.Type.ToString().ToLowerInvariant()}";
                if (rng.Next(12) == 0)
                {
                    // Failed or interrupted: never referenced, never restored from.
                    await repo.BaseBackupAsync(label + "-failed", complete: false, withMetadata: rng.Next(2) == 0,
                        references: choice.Type == BaseBackupType.Full ? null : choice.References, type: choice.Type);
                }
                else
                {
                    await repo.BaseBackupAsync(label, references: choice.Type == BaseBackupType.Full ? null : choice.References, type: choice.Type);
                    taken++;
                }

                // The WAL until the next slot (which leaves time for the expiry below).
                var segments = rng.Next(1, 4);
                for (var w = 0; w < segments; w++)
                {
                    clock.Advance(TimeSpan.FromMinutes(rng.Next(5, (24 * 60 / perDay - 80) / segments)));
                    await repo.WalAsync();
                }

                if (rng.NextDouble() < expireChance / perDay)
                {
                    clock.Advance(TimeSpan.FromMinutes(rng.Next(1, 60)));
                    await ExpireAndCheckAsync(repo, policy, rng, coverage);
                }
            }
        }

        clock.Advance(TimeSpan.FromHours(rng.Next(1, 48)));
        await ExpireAndCheckAsync(repo, policy, rng, coverage);
    }

    private static BaseBackupType Pick(Random rng, int[] weights)
    {
        var x = rng.Next(weights.Sum());
        return x < weights[0] ? BaseBackupType.Full : x < weights[0] + weights[1] ? BaseBackupType.Diff : BaseBackupType.Incr;
    }

    /// <summary>The synthetic base backups have no block map object; the planner only needs to know one exists.</summary>
    private static ScannedBaseBackup WithBlockMap(ScannedBaseBackup b) =>
        b.Metadata is null ? b : b with { Metadata = b.Metadata with { BlockMap = new BaseBackupPart("blockmap.zst", 1, 1, new string('e', 64)) } };

    private static async Task ExpireAndCheckAsync(SyntheticRepository repo, RetentionPolicy policy, Random rng, Coverage coverage)
    {
        var now = repo.Clock.GetUtcNow();
        var windowStart = now - TimeSpan.FromDays(policy.RetentionDays);
        var before = await repo.ScanAsync();
        var moments = Moments(before, windowStart, now, rng);
        var reachedBefore = moments.Where(t => TryPlan(before, t, now) is not null).ToList();

        var plan = ExpiryPlanner.PlanChain(before, policy, active: true, mayGoWhole: false, now);
        Assert.False(plan.Whole);
        await ApplyAsync(repo, plan);
        coverage.Expiries++;
        coverage.BaseBackupsDeleted += plan.BaseBackups.Count(b => b.Complete);
        coverage.KeptAsReferences += plan.KeptAsReferences.Count;
        var after = await repo.ScanAsync();
        var context = $"expiry at {ExpiryPlanner.Format(now)}, window {policy.RetentionDays} d from {ExpiryPlanner.Format(windowStart)}, " +
                      $"min {policy.MinBaseBackups}; before: {Describe(before)}; deleted: {string.Join(", ", plan.BaseBackups.Select(b => b.Label))}";

        // The end of the chain's WAL is untouched.
        Assert.Equal(before.DurableEnd, after.DurableEnd);

        // Nothing a remaining base backup is applied over is gone.
        foreach (var b in after.BaseBackups.Where(b => b.Complete))
        {
            foreach (var reference in b.Metadata!.References ?? [])
            {
                Assert.True(after.BaseBackups.Any(r => r.Label == reference && r.Complete),
                    $"{b.Label} needs {reference}, which expiry deleted ({context})");
            }
        }

        // Every moment of the window a restore reached before, it still reaches: all layers and the WAL to the end.
        var segments = after.CompleteSegments();
        foreach (var t in reachedBefore)
        {
            var restore = TryPlan(after, t, now)
                          ?? throw new Xunit.Sdk.XunitException($"{ExpiryPlanner.Format(t)} was restorable before expiry, not after ({context})");
            coverage.MomentsChecked++;
            if (restore.Layers.Count > 1)
                coverage.IncrementalRestores++;
            Assert.Equal(restore.BaseBackup.Metadata!.References ?? [], restore.Layers.SkipLast(1).Select(l => l.Label));
            Assert.All(restore.Layers, l => Assert.Contains(after.BaseBackups, b => b.Label == l.Label && b.Complete));
            for (var n = WalSegment.Number(Lsn.Parse(restore.BaseBackup.Metadata.StartLsn)); n < WalSegment.Number(after.DurableEnd); n++)
                Assert.True(segments.Contains(n), $"segment {n:X} is gone, needed to restore {ExpiryPlanner.Format(t)} from {restore.BaseBackup.Label} ({context})");
        }

        // What the dry run says it keeps as a reference is kept, and named with exactly the base backups that need it and
        // are kept for the window (or on request): those kept only as references themselves are not dependents.
        var deleted = plan.BaseBackups.Select(b => b.Label).ToHashSet(StringComparer.Ordinal);
        var keptAsReference = plan.KeptAsReferences.Select(line => line[..line.IndexOf(": needed by ", StringComparison.Ordinal)])
            .ToHashSet(StringComparer.Ordinal);
        foreach (var line in plan.KeptAsReferences)
        {
            var label = line[..line.IndexOf(": needed by ", StringComparison.Ordinal)];
            var dependents = line[(label.Length + ": needed by ".Length)..].Split(", ");
            Assert.DoesNotContain(label, deleted);
            Assert.Contains(after.BaseBackups, b => b.Label == label && b.Complete);
            var expected = after.BaseBackups
                .Where(b => b.Complete && !keptAsReference.Contains(b.Label) && (b.Metadata!.References ?? []).Contains(label))
                .Select(b => b.Label).Order(StringComparer.Ordinal);
            Assert.Equal(expected, dependents.Order(StringComparer.Ordinal));
        }

        // Without a minimum count, nothing complete and older than the base backup covering the window start is left
        // but what a kept one is applied over.
        if (policy.MinBaseBackups == 0)
        {
            var covering = before.BaseBackups.Where(b => b.Complete && before.IsRestorable(b) && b.Metadata!.CompletedAt <= windowStart)
                .MaxBy(b => Lsn.Parse(b.Metadata!.StartLsn));
            if (covering is not null)
            {
                foreach (var b in after.BaseBackups.Where(b => b.Complete && Lsn.Parse(b.Metadata!.StartLsn) < Lsn.Parse(covering.Metadata!.StartLsn)))
                    Assert.True(keptAsReference.Contains(b.Label), $"{b.Label} is older than {covering.Label} and needed by nothing, yet kept ({context})");
            }
        }
    }

    /// <summary>Times to check in [window start, now]: the window start, every base backup's end in it, random ones, now.</summary>
    private static List<DateTimeOffset> Moments(ScannedChain chain, DateTimeOffset windowStart, DateTimeOffset now, Random rng)
    {
        var moments = new List<DateTimeOffset> { windowStart, now };
        foreach (var b in chain.BaseBackups.Where(b => b.Metadata is not null))
        {
            var end = b.Metadata!.CompletedAt;
            if (end >= windowStart && end <= now)
                moments.AddRange([end, end.AddSeconds(1)]);
        }

        var span = (now - windowStart).Ticks;
        for (var i = 0; i < 12; i++)
            moments.Add(windowStart.AddTicks((long)(rng.NextDouble() * span)));
        return [.. moments.Where(t => t <= now).Distinct().Order()];
    }

    private static RestorePlan? TryPlan(ScannedChain chain, DateTimeOffset t, DateTimeOffset now)
    {
        try
        {
            return RestorePlanner.Plan(chain, new RestoreTarget.Time(t), now);
        }
        catch (PgVaultException ex) when (ex.Code == ErrorCode.ValidationFailed)
        {
            return null;
        }
    }

    /// <summary>Applies a plan as the executor does: base backups (marker first), the new WAL start, then the WAL.</summary>
    private static async Task ApplyAsync(SyntheticRepository repo, ChainExpiryPlan plan)
    {
        foreach (var b in plan.BaseBackups)
            await repo.Store.DeleteAsync([.. b.Objects.Select(o => o.Key)], Ct);
        if (plan.NewWalStart is { } walStart)
        {
            await new ChainRepository(repo.Store, repo.ClusterId, repo.ChainId)
                .WriteExpiryAsync(new ExpiryMetadata { WalStartLsn = walStart.ToString(), ExpiredAt = repo.Clock.GetUtcNow() }, Ct);
        }

        if (plan.Wal.Count > 0)
            await repo.Store.DeleteAsync([.. plan.Wal.Select(o => o.Key)], Ct);
    }

    private static string Describe(ScannedChain chain) =>
        string.Join(" ", chain.BaseBackups.Select(b =>
            $"{b.Label}{(b.Complete ? "" : "(incomplete)")}{(b.Metadata?.References is { Count: > 0 } r ? "<" + string.Join("+", r) : "")}"));
}

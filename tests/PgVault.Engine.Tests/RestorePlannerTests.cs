using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Engine.Restore;
using PgVault.Errors;
using PgVault.Postgres;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>Which base backup a restore starts from, and which targets are refused: tables of cases.</summary>
public sealed class RestorePlannerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private static ScannedBaseBackup Base(string label, string start, string end, int completedMinutes, bool complete = true, ulong? nextXid = null) =>
        new(label, "p/", new BaseBackupMetadata
        {
            NextXid = nextXid,
            BackupId = "b", Label = label, Timeline = 1, StartLsn = start, EndLsn = end, StartedAt = T0.AddMinutes(completedMinutes - 1),
            CompletedAt = T0.AddMinutes(completedMinutes), DatabaseBytes = 1, Parts = [], Manifest = new BaseBackupPart("m", 1, 1, new string('0', 64)),
            Compression = "zstd",
        }, complete, 1);

    /// <summary>A chain whose WAL is whole from 0/1000000 up to (not including) segment 0/9000000.</summary>
    private static ScannedChain Chain(params ScannedBaseBackup[] bases) => new(
        "c", "x",
        new ChainMetadata
        {
            BackupId = "b", ClusterId = "c", ChainId = "x", SystemIdentifier = "1", Timeline = 1, StartLsn = "0/1000000", CreatedAt = T0,
            PostgresMajor = "15", Location = "local",
        },
        Enumerable.Range(1, 8).Select(n => new WalObject($"w{n}", 1, (ulong)n, 0, WalSegment.DefaultSizeBytes, new string('0', 64), false, 1)).ToList(),
        [], 8, bases, []);

    private static readonly ScannedChain Two = Chain(
        Base("old", "0/1000028", "0/1000100", 0),
        Base("new", "0/5000028", "0/5000100", 60),
        Base("broken", "0/7000028", "0/7000100", 90, complete: false));

    [Theory]
    [InlineData("latest", "new")]
    [InlineData("immediate", "new")]
    [InlineData("time:30", "old")]
    [InlineData("time:60", "new")]
    [InlineData("time:100", "new")]
    [InlineData("lsn:0/3000000", "old")]
    [InlineData("lsn:0/5000100", "new")]
    [InlineData("xid:1234", "old")]
    [InlineData("name:before-upgrade", "old")]
    public void The_newest_base_backup_that_reaches_the_target_is_chosen(string target, string expected)
    {
        var plan = RestorePlanner.Plan(Two, Parse(target), T0.AddMinutes(120));
        Assert.Equal(expected, plan.BaseBackup.Label);
    }

    /// <summary>Base backups that recorded the next xid at their start: old at 1000, new at 5000 (epoch 0).</summary>
    private static readonly ScannedChain WithXids = Chain(
        Base("old", "0/1000028", "0/1000100", 0, nextXid: 1000),
        Base("new", "0/5000028", "0/5000100", 60, nextXid: 5000),
        Base("broken", "0/7000028", "0/7000100", 90, complete: false, nextXid: 9000));

    [Theory]
    [InlineData(999UL, "old")]      // before both starts: commits before either could see it (PostgreSQL will say so)
    [InlineData(1000UL, "old")]
    [InlineData(4999UL, "old")]
    [InlineData(5000UL, "new")]
    [InlineData(123456UL, "new")]
    [InlineData(5000UL + (1UL << 32), "new")] // epoch-qualified
    public void An_xid_target_starts_from_the_newest_base_backup_whose_start_precedes_it(ulong xid, string expected) =>
        Assert.Equal(expected, RestorePlanner.Plan(WithXids, new RestoreTarget.Xid(xid), T0.AddMinutes(120)).BaseBackup.Label);

    [Theory]
    [InlineData(10UL, null, false)]
    [InlineData(10UL, 5UL, true)]
    [InlineData(10UL, 10UL, true)]
    [InlineData(10UL, 11UL, false)]
    [InlineData(10UL, (1UL << 32) + 5, false)]            // 32-bit target, epoch 1: cannot be placed
    [InlineData((1UL << 32) + 10, (1UL << 32) + 5, true)]
    [InlineData((1UL << 32) + 10, 7UL, true)]
    public void Xids_are_compared_with_their_epoch_when_they_carry_one(ulong xid, ulong? next, bool after) =>
        Assert.Equal(after, RestorePlanner.CommitsAfterStart(xid, next));

    [Theory]
    [InlineData("time:-5", "before the recovery window")]
    [InlineData("time:121", "after the recovery window")]
    [InlineData("lsn:0/1000000", "before the recovery window")]
    [InlineData("lsn:0/9000001", "after the recovery window")]
    public void Targets_outside_the_window_are_refused_naming_it(string target, string why)
    {
        var ex = Assert.Throws<PgVaultException>(() => RestorePlanner.Plan(Two, Parse(target), T0.AddMinutes(120)));
        Assert.Contains(why, ex.Message, StringComparison.Ordinal);
        Assert.Contains("the recovery window of backup b is", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Recovery_settings_follow_the_target()
    {
        var plan = RestorePlanner.Plan(Two, new RestoreTarget.Time(T0.AddMinutes(70)), T0.AddMinutes(120), inclusive: false);
        var settings = plan.RecoverySettings.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("2026-11-26 13:10:00.000000+00", settings["recovery_target_time"]);
        Assert.Equal("off", settings["recovery_target_inclusive"]);
        Assert.Equal("promote", settings["recovery_target_action"]);
        Assert.DoesNotContain("recovery_target_action", RestorePlanner.Plan(Two, new RestoreTarget.Latest(), T0.AddMinutes(120)).RecoverySettings.Select(kv => kv.Key));
    }

    [Fact]
    public void A_chain_without_a_complete_base_backup_cannot_be_restored() =>
        Assert.Throws<PgVaultException>(() => RestorePlanner.Plan(Chain(Base("x", "0/2000028", "0/2000100", 5, complete: false)),
            new RestoreTarget.Latest(), T0));

    /// <summary>
    /// After expiry kept "kept" (0/1000028 to 0/2000100, WAL segments 1 and 2) and moved the WAL start to segment 5: segments
    /// 3 and 4 are gone; "new" starts the window.
    /// </summary>
    private static ScannedChain Expired()
    {
        var full = Chain(
            Base("kept", "0/1000028", "0/2000100", 0),
            Base("new", "0/5000028", "0/5000100", 60));
        return full with
        {
            Wal = [.. full.Wal.Where(w => w.Segment is not (3 or 4))],
            Expiry = new ExpiryMetadata { WalStartLsn = "0/5000000", ExpiredAt = T0.AddDays(8) },
        };
    }

    [Theory]
    [InlineData("latest", "immediate")]
    [InlineData("immediate", "immediate")]
    [InlineData("lsn:0/2000100", "lsn")]
    [InlineData("lsn:0/3000000", "lsn")] // the end of its stored WAL
    public void A_kept_base_backup_before_the_WAL_start_restores_to_its_consistency_point(string target, string setting)
    {
        var chain = Expired();
        Assert.DoesNotContain(chain.Restorable, b => b.Label == "kept");
        Assert.Equal(Lsn.Parse("0/3000000"), chain.ReachableEnd(chain.BaseBackups[0]));
        var plan = RestorePlanner.Plan(chain, Parse(target), T0.AddMinutes(120), baseBackupLabel: "kept");
        Assert.Equal("kept", plan.BaseBackup.Label);
        Assert.Equal(Lsn.Parse("0/3000000"), plan.ReachableEnd);
        var settings = plan.RecoverySettings.ToDictionary(kv => kv.Key, kv => kv.Value);
        if (setting == "immediate")
            Assert.Equal("immediate", settings["recovery_target"]);
        else
            Assert.Equal(target[4..], settings["recovery_target_lsn"]);
        Assert.Equal("promote", settings["recovery_target_action"]);
    }

    [Theory]
    [InlineData("lsn:0/2000000", "is outside what it reaches")]
    [InlineData("lsn:0/3000001", "is outside what it reaches")]
    [InlineData("lsn:0/5000100", "is outside what it reaches")]
    [InlineData("time:30", "a time target cannot be checked")]
    [InlineData("xid:1234", "a transaction id target cannot be checked")]
    [InlineData("name:before-upgrade", "a restore point name target cannot be checked")]
    public void Other_targets_of_a_kept_base_backup_before_the_WAL_start_are_refused_naming_its_range(string target, string why)
    {
        var ex = Assert.Throws<PgVaultException>(() => RestorePlanner.Plan(Expired(), Parse(target), T0.AddMinutes(120), baseBackupLabel: "kept"));
        Assert.Contains(why, ex.Message, StringComparison.Ordinal);
        Assert.Contains("base backup kept of backup b is kept without the WAL after it (expiry removed it): it reaches LSN 0/2000100 " +
                        "(its consistency point) to 0/3000000 only", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_chosen_base_backup_inside_the_window_plans_as_usual_and_unknown_or_unrestorable_ones_are_refused()
    {
        var chain = Expired();
        var plan = RestorePlanner.Plan(chain, new RestoreTarget.Latest(), T0.AddMinutes(120), baseBackupLabel: "new");
        Assert.Equal("new", plan.BaseBackup.Label);
        Assert.Null(plan.ReachableEnd);
        Assert.DoesNotContain("recovery_target", plan.RecoverySettings.Select(kv => kv.Key));
        Assert.Equal("old", RestorePlanner.Plan(Two, new RestoreTarget.Time(T0.AddMinutes(90)), T0.AddMinutes(120), baseBackupLabel: "old").BaseBackup.Label);
        Assert.Contains("is outside what it reaches",
            Assert.Throws<PgVaultException>(() => RestorePlanner.Plan(Two, new RestoreTarget.Time(T0.AddMinutes(30)), T0.AddMinutes(120), baseBackupLabel: "new")).Message,
            StringComparison.Ordinal);
        Assert.Equal(ErrorCode.NotFound,
            Assert.Throws<PgVaultException>(() => RestorePlanner.Plan(chain, new RestoreTarget.Latest(), T0, baseBackupLabel: "nope")).Code);
        Assert.Contains("is incomplete",
            Assert.Throws<PgVaultException>(() => RestorePlanner.Plan(Two, new RestoreTarget.Latest(), T0, baseBackupLabel: "broken")).Message,
            StringComparison.Ordinal);
        var lostOwnWal = chain with { Wal = [.. chain.Wal.Where(w => w.Segment != 2)] };
        Assert.Null(lostOwnWal.ReachableEnd(lostOwnWal.BaseBackups[0]));
        Assert.Contains("is not all stored",
            Assert.Throws<PgVaultException>(() => RestorePlanner.Plan(lostOwnWal, new RestoreTarget.Immediate(), T0, baseBackupLabel: "kept")).Message,
            StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0:757", 757UL)]
    [InlineData("2:5", (2UL << 32) + 5)]
    [InlineData("4294967295:4294967295", ulong.MaxValue)]
    [InlineData("757", null)]
    [InlineData("a:b", null)]
    [InlineData(null, null)]
    public void The_next_xid_of_pg_control_checkpoint_is_read_with_its_epoch(string? text, ulong? expected) =>
        Assert.Equal(expected, Engine.Postgres.PostgresServer.ParseNextXid(text));

    private static RestoreTarget Parse(string target) => target.Split(':', 2) switch
    {
        ["latest"] => new RestoreTarget.Latest(),
        ["immediate"] => new RestoreTarget.Immediate(),
        ["time", var m] => new RestoreTarget.Time(T0.AddMinutes(int.Parse(m, System.Globalization.CultureInfo.InvariantCulture))),
        ["lsn", var l] => new RestoreTarget.Position(Lsn.Parse(l)),
        ["xid", var x] => new RestoreTarget.Xid(ulong.Parse(x, System.Globalization.CultureInfo.InvariantCulture)),
        ["name", var n] => new RestoreTarget.Name(n),
        _ => throw new ArgumentException("unknown target " + target, nameof(target)),
    };
}

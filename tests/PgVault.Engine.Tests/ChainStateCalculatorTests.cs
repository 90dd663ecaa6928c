using PgVault.Catalog;
using PgVault.Engine.Chains;
using PgVault.Engine.Wal;
using PgVault.Postgres;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>The IONOS state and recovery window of a chain: pure rules, tested with tables of cases.</summary>
public sealed class ChainStateCalculatorTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Threshold = TimeSpan.FromSeconds(60);

    private static BaseBackupRecord Base(string label, BaseBackupState state, ulong? end, int minutesAgo) => new()
    {
        BackupId = "b", Label = label, State = state, Timeline = 1, StartLsn = end is null ? null : end - 0x100, EndLsn = end,
        StartedAt = Now.AddMinutes(-minutesAgo), CompletedAt = state == BaseBackupState.Complete ? Now.AddMinutes(-minutesAgo + 1) : null,
    };

    public static TheoryData<string, BaseBackupRecord[], ulong, bool, int?, BackupState, string?> Cases => new()
    {
        { "nothing yet", [], 0x1000, true, null, BackupState.Busy, null },
        { "first running", [Base("a", BaseBackupState.Running, null, 1)], 0x1000, true, null, BackupState.Busy, null },
        { "complete, WAL not there yet", [Base("a", BaseBackupState.Complete, 0x2000, 2)], 0x1000, true, null, BackupState.Busy, null },
        { "complete with its WAL", [Base("a", BaseBackupState.Complete, 0x2000, 2)], 0x3000, true, null, BackupState.Available, "a" },
        { "only attempt failed", [Base("a", BaseBackupState.Failed, null, 2)], 0x3000, true, null, BackupState.Failed, null },
        { "later one failed", [Base("a", BaseBackupState.Complete, 0x2000, 10), Base("b", BaseBackupState.Failed, null, 2)], 0x3000, true, null, BackupState.Degraded, "a" },
        { "later one running", [Base("a", BaseBackupState.Complete, 0x2000, 10), Base("b", BaseBackupState.Running, null, 2)], 0x3000, true, null, BackupState.Available, "a" },
        { "oldest restorable is the window start", [Base("a", BaseBackupState.Complete, 0x2000, 10), Base("b", BaseBackupState.Complete, 0x2800, 5)], 0x3000, true, null, BackupState.Available, "a" },
        { "interrupted briefly", [Base("a", BaseBackupState.Complete, 0x2000, 10)], 0x3000, false, 30, BackupState.Available, "a" },
        { "interrupted too long", [Base("a", BaseBackupState.Complete, 0x2000, 10)], 0x3000, false, 61, BackupState.Degraded, "a" },
        { "interrupted, nothing restorable", [Base("a", BaseBackupState.Failed, null, 10)], 0x3000, false, 600, BackupState.Failed, null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void State_and_window(string why, BaseBackupRecord[] bases, ulong durableEnd, bool streaming, int? interruptedSecondsAgo,
        BackupState state, string? windowFrom)
    {
        var wal = new WalStatus(durableEnd, streaming, interruptedSecondsAgo is { } s ? Now.AddSeconds(-s) : null);
        var (actual, earliest) = ChainStateCalculator.Compute(bases, wal, Now, Threshold);
        Assert.True(state == actual, $"{why}: expected {state}, got {actual}");
        Assert.Equal(windowFrom is null ? null : bases.Single(b => b.Label == windowFrom).CompletedAt, earliest);
    }

    [Theory]
    [InlineData("1\t0/5549B38\tno recovery target specified\n", 1u, "0/5549B38", true)]
    [InlineData("1\t0/5549B38\tno recovery target specified\n", 1u, "0/554A000", true)]  // rest of the switch page (promoted standby)
    [InlineData("1\t0/5549B38\tno recovery target specified\n", 1u, "0/554A001", false)]
    [InlineData("1\t0/3000000\tbefore 2026-11-26\n", 1u, "0/5000000", false)]           // a PITR branching earlier
    [InlineData("1\t0/3000000\tx\n2\t0/6000000\ty\n", 2u, "0/5000000", true)]
    [InlineData("1\t0/3000000\tx\n", 4u, "0/1000000", false)]                             // timeline not in the history
    public void A_history_passes_through_a_chains_end(string history, uint timeline, string end, bool expected) =>
        Assert.Equal(expected, TimelineHistory.PassesThrough(TimelineHistory.Parse(history), timeline, Lsn.Parse(end)));
}

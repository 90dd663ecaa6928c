using PgVault.Configuration;
using PgVault.Engine.BaseBackup;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>Which base backup the schedules give next (pure), and the reference checks of <c>verify</c> (pure).</summary>
public sealed class BaseBackupScheduleTests
{
    private static readonly DateTimeOffset Saturday = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void The_defaults_take_a_full_one_on_Sunday_and_an_incr_every_other_day_and_a_typed_full_first()
    {
        var schedule = BaseBackupSchedule.For(new ClusterOptions());
        Assert.Equal(BaseBackupType.Full, schedule.DefaultType);
        var sunday = schedule.Next(Saturday)!.Value;
        Assert.Equal(new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero), sunday.At);
        Assert.Equal(BaseBackupType.Full, sunday.Type); // the incr falls on the same minute: the full one wins
        var monday = schedule.Next(sunday.At)!.Value;
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 0, 0, 0, TimeSpan.Zero), monday.At);
        Assert.Equal(BaseBackupType.Incr, monday.Type);
        Assert.Contains("IncrementalBackupSchedule", monday.Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0 * * * *", "30 * * * *", "", "2026-11-28T12:30:00Z", BaseBackupType.Incr)]
    [InlineData("", "", "15 12 * * *", "2026-11-28T12:15:00Z", BaseBackupType.Diff)]
    [InlineData("0 13 * * *", "0 13 * * *", "0 13 * * *", "2026-11-28T13:00:00Z", BaseBackupType.Full)]
    [InlineData("", "0 13 * * *", "0 13 * * *", "2026-11-28T13:00:00Z", BaseBackupType.Diff)]
    public void The_earliest_schedule_wins_and_on_the_same_minute_the_strongest_type(string full, string incr, string diff, string at,
        BaseBackupType type)
    {
        var next = BaseBackupSchedule.For(new ClusterOptions { FullBackupSchedule = full, IncrementalBackupSchedule = incr, DiffBackupSchedule = diff })
            .Next(Saturday)!.Value;
        Assert.Equal(DateTimeOffset.Parse(at, System.Globalization.CultureInfo.InvariantCulture), next.At);
        Assert.Equal(type, next.Type);
    }

    [Fact]
    public void The_single_schedule_of_earlier_versions_takes_untyped_full_ones_and_all_empty_schedules_nothing()
    {
        var legacy = BaseBackupSchedule.For(new ClusterOptions { BaseBackupSchedule = "0 0 * * *" });
        Assert.Null(legacy.DefaultType);
        var next = legacy.Next(Saturday)!.Value;
        Assert.Null(next.Type);
        Assert.Equal(new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero), next.At);
        Assert.Null(BaseBackupSchedule.For(new ClusterOptions { FullBackupSchedule = "", IncrementalBackupSchedule = "" }).Next(Saturday));
    }

    private static ScannedBaseBackup Base(string label, bool complete = true, params string[] references) =>
        new(label, $"base/{label}/", new BaseBackupMetadata
        {
            Type = references.Length == 0 ? BaseBackupType.Full : BaseBackupType.Incr,
            References = references.Length == 0 ? null : references,
            BackupId = "b", Label = label, Timeline = 1, StartLsn = "0/2000028", EndLsn = "0/2000100", StartedAt = Saturday, CompletedAt = Saturday,
            DatabaseBytes = 1, Parts = [], Manifest = new BaseBackupPart("m", 1, 1, "00"), Compression = "zstd",
        }, complete, 1);

    [Fact]
    public void Verify_names_every_base_backup_restored_over_a_damaged_missing_or_incomplete_one_and_inconsistent_references()
    {
        var chain = new[]
        {
            Base("a"), Base("b", true, "a"), Base("c", true, "a", "b"), Base("d", true, "a"),
            Base("e", false), Base("f", true, "e"), Base("g", true, "x"), Base("h", true, "a", "b", "d"), // h: d is over a alone
        };
        var findings = ChainVerifier.CheckReferences(chain, new HashSet<string>(StringComparer.Ordinal) { "a" }).Select(f => f.Message).ToList();
        Assert.All(ChainVerifier.CheckReferences(chain, new HashSet<string>()), f => Assert.True(f.IsProblem));
        Assert.Contains("base backup a is damaged (see the objects above), and base backups b, c, d, h are restored over it: they cannot be restored either", findings);
        Assert.Contains("base backup e is incomplete, but base backups f are restored over it: they cannot be restored", findings);
        Assert.Contains("base backup x is missing, but base backups g are restored over it: they cannot be restored", findings);
        Assert.Contains(findings, f => f.StartsWith("base backup h is restored over a, b, d, but d is itself restored over a:", StringComparison.Ordinal));
        Assert.DoesNotContain(findings, f => f.Contains("base backup c is restored over", StringComparison.Ordinal));
        Assert.Equal(4, findings.Count);
        Assert.Empty(ChainVerifier.CheckReferences([Base("a"), Base("b", true, "a"), Base("c", true, "a", "b")], new HashSet<string>()));
    }
}

using PgVault.Engine.Restore;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>What a failed recovery's report quotes from the server's log (<see cref="RecoveryMonitor.LogTail"/>).</summary>
public sealed class RecoveryMonitorTests
{
    private const string Cause = "pgvault wal-fetch: PGV-2002: object 'clusters/c/chains/x/wal/00000001/000000010000000000000007-ab.zst' is corrupt";

    private static string Tail(params string[] lines)
    {
        using var dir = new TempDirectory("log-tail");
        var path = Path.Combine(dir.Path, "postgres.log");
        File.WriteAllLines(path, lines);
        return RecoveryMonitor.LogTail(path, lines: 3);
    }

    [Fact]
    public void The_restore_commands_own_message_comes_first_when_it_is_before_the_tail()
    {
        var text = Tail(
            "pgvault wal-fetch: 000000010000000000000006: restored",
            Cause,
            "HINT: the repository copy is damaged; restore from another backup or repository copy",
            "pgvault wal-fetch agent: 000000010000000000000007: object ... is corrupt",
            "FATAL:  could not restore file \"000000010000000000000007\" from archive: child process exited with exit code 126",
            "LOG:  startup process (PID 7) exited with exit code 1",
            "LOG:  database system is shut down");
        Assert.StartsWith("restore_command: " + Cause + " | server log: ", text, StringComparison.Ordinal);
        Assert.EndsWith("LOG:  database system is shut down", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_failed_restore_command_only_the_tail_is_quoted()
    {
        var text = Tail(
            "pgvault wal-fetch: 000000010000000000000006: restored",
            "LOG:  a",
            "LOG:  b",
            "FATAL:  something else",
            "LOG:  database system is shut down");
        Assert.Equal("server log: LOG:  b | FATAL:  something else | LOG:  database system is shut down", text);
    }
}

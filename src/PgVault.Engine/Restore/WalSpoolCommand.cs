namespace PgVault.Engine.Restore;

/// <summary>
/// The <c>restore_command</c> of a restored data directory: a short <c>/bin/sh</c> line that takes a file the
/// <see cref="WalFetchAgent"/> put into the spool (no PgVault process starts: PostgreSQL reads the agent's link of it in
/// <c>pg_wal</c>, see <see cref="WalHandover"/>, or the shell renames it), asks the agent for one that is
/// not there yet and waits for its answer, and runs <c>pgvault wal-fetch</c> otherwise (no agent, or the agent says so).
/// </summary>
/// <remarks>
/// What the line trusts: the spool only when it is a real directory (not a link) owned by the user running the command,
/// a file in it only when it is a regular file (not a link). The agent's files are in the spool only once complete and
/// checked (renamed into place). Its answers are empty marker files: <c>F.absent</c> (the file does not exist: exit 1, as
/// <c>wal-fetch</c> would) and <c>F.fallback</c> (run <c>wal-fetch</c>, which decides, exit 126 included). The wait is
/// bounded (about 30 s) and ends early when the agent's process is gone. The line holds no <c>%</c> but PostgreSQL's
/// <c>%f</c> and <c>%p</c>, and no quote or backslash of its own; the wal-fetch command is quoted by its builder.
/// </remarks>
public static class WalSpoolCommand
{
    /// <summary>The shell line around <paramref name="fetch"/> (the <c>pgvault wal-fetch …</c> command) for the spool <paramref name="spool"/>.</summary>
    public static string Build(string fetch, string spool = WalFetcher.SpoolDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(fetch);
        if (spool.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '/' or '-' or '_' or '.')))
            throw new ArgumentException("the spool path must be plain (letters, digits, / - _ .)", nameof(spool));
        return $"d={spool}; f=$d/%f; " +
               "if [ -d $d ] && [ ! -L $d ] && [ -O $d ]; then " +
               // Linked into pg_wal by the agent: "not in the archive", and PostgreSQL reads pg_wal/%f, the same file.
               "if [ ! -L \"$f\" ] && [ ! -L pg_wal/%f ] && [ pg_wal/%f -ef \"$f\" ]; then : > \"$f" + WalHandover.TakenSuffix + "\"; exit 1; fi; " +
               // Not there: ask the agent (if its process lives) and wait for the file or its answer.
               "if [ ! -f \"$f\" ] && [ -f $d/" + WalFetchAgent.LockFile + " ] && read p < $d/" + WalFetchAgent.LockFile + " && kill -0 \"$p\" 2>/dev/null; then " +
               "rm -f \"$f" + WalFetchAgent.AbsentSuffix + "\" \"$f" + WalFetchAgent.FallbackSuffix + "\"; : > \"$f" + WalFetchAgent.WantedSuffix + "\"; n=0; " +
               "while [ ! -f \"$f\" ] && [ ! -f \"$f" + WalFetchAgent.AbsentSuffix + "\" ] && [ ! -f \"$f" + WalFetchAgent.FallbackSuffix + "\" ] " +
               "&& [ $n -lt 3000 ] && kill -0 \"$p\" 2>/dev/null; do sleep 0.01 2>/dev/null || sleep 1; n=$((n+1)); done; fi; " +
               "if [ -f \"$f\" ] && [ ! -L \"$f\" ] && mv -f \"$f\" \"%p\"; then exit 0; fi; " +
               "if [ -f \"$f" + WalFetchAgent.AbsentSuffix + "\" ]; then rm -f \"$f" + WalFetchAgent.AbsentSuffix + "\"; exit 1; fi; " +
               "rm -f \"$f" + WalFetchAgent.FallbackSuffix + "\" \"$f" + WalFetchAgent.WantedSuffix + "\"; fi; " +
               fetch;
    }
}

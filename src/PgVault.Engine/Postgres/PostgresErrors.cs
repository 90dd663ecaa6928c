using Npgsql;

namespace PgVault.Engine.Postgres;

/// <summary>The SQLSTATEs PgVault decides on, and the decisions (PostgreSQL's <c>errcodes.txt</c>).</summary>
public static class PostgresErrors
{
    /// <summary>feature_not_supported: e.g. "zstd compression is not supported by this build".</summary>
    public const string FeatureNotSupported = "0A000";

    /// <summary>
    /// syntax_error: in a replication command, an option the server does not know or a value it refuses (an unknown
    /// compression algorithm, a level or worker count out of range, a server older than the option).
    /// </summary>
    public const string SyntaxError = "42601";

    /// <summary>invalid_parameter_value: e.g. "could not set compression worker count to N" (a count libzstd refuses).</summary>
    public const string InvalidParameterValue = "22023";

    /// <summary>data_corrupted: e.g. a data page whose checksum does not match.</summary>
    public const string DataCorrupted = "XX001";

    /// <summary>undefined_file: START_REPLICATION's "requested WAL segment … has already been removed".</summary>
    public const string UndefinedFile = "58P01";

    /// <summary>
    /// Whether a <c>BASE_BACKUP</c> that asked the server to compress failed because the server cannot compress as asked,
    /// so the same backup without server compression can succeed: feature_not_supported (built without zstd),
    /// syntax_error (the compression option or its detail refused) or invalid_parameter_value (libzstd refused the level
    /// or worker count, e.g. a libzstd without threads). The other options are the same in both attempts, so an error
    /// in them with one of these codes fails the retry too and surfaces there.
    /// </summary>
    /// <remarks>The code decides, never the message: the server translates its messages (<c>lc_messages</c>) and rewords them between majors.</remarks>
    public static bool ServerCannotCompress(Exception error) =>
        SqlState(error) is FeatureNotSupported or SyntaxError or InvalidParameterValue;

    /// <summary>
    /// The server's SQLSTATE behind <paramref name="error"/>: that of the <see cref="PostgresException"/> it is or wraps
    /// (<see cref="ReplicationWire"/> wraps one in each server error it reports), or null when the server reported none
    /// (no connection, a failure on PgVault's side).
    /// </summary>
    public static string? SqlState(Exception? error)
    {
        for (; error is not null; error = error.InnerException)
        {
            if (error is PostgresException server)
                return server.SqlState;
        }

        return null;
    }

    /// <summary>
    /// Whether a physical replication stream ended because the server ended the timeline being streamed (a promotion).
    /// </summary>
    /// <remarks>
    /// The server sends no error at all then: it ends the COPY with CopyDone and sends the next timeline. Npgsql's
    /// <c>StartReplication</c> reports that end as a client-side protocol failure, with no SQLSTATE, whose message names
    /// the CopyDone message; so the message decides. A <see cref="PostgresException"/> carries a server error and is
    /// never the end of a timeline.
    /// </remarks>
    public static bool IsEndOfTimeline(Exception error) =>
        error is not PostgresException && error.Message.Contains("CopyDone", StringComparison.Ordinal);

    /// <summary>
    /// Whether the server no longer has WAL that was asked for (START_REPLICATION's "requested WAL segment … has already
    /// been removed", SQLSTATE 58P01): WAL PgVault had not stored is gone, the chain cannot go on.
    /// </summary>
    public static bool IsWalRemoved(Exception error) => SqlState(error) == UndefinedFile;
}

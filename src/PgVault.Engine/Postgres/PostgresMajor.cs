using System.Globalization;
using PgVault.Errors;

namespace PgVault.Engine.Postgres;

/// <summary>
/// A PostgreSQL major PgVault supports, and every way in which PgVault treats it differently from the others: the one
/// place to look (and to change) when a major is added or dropped, instead of <c>if (version &gt;= …)</c> in the code
/// that backs up and restores. docs/POSTGRES_MAJORS.md lists the same facts for operators.
/// </summary>
/// <remarks>
/// What is the same for every supported major is not here: physical replication (IDENTIFY_SYSTEM, START_REPLICATION
/// on a slot, TIMELINE_HISTORY), the recovery settings a restore writes (recovery_target_*, restore_command, recovery.signal,
/// all from 12), backup manifests (13), <c>pg_control_checkpoint()</c>, and amcheck's <c>bt_index_check(index, heapallindexed)</c>
/// and <c>verify_heapam(relation)</c> (14).
/// </remarks>
public sealed class PostgresMajor
{
    private PostgresMajor(int number, bool optionListBaseBackup, bool serverCompression, bool readReplicationSlot)
    {
        Number = number;
        OptionListBaseBackup = optionListBaseBackup;
        ServerCompression = serverCompression;
        ReadReplicationSlot = readReplicationSlot;
    }

    /// <summary>
    /// PostgreSQL 14: <c>BASE_BACKUP</c> takes its options as bare keywords and sends each archive in its own COPY OUT
    /// (raw tar bytes without the end-of-archive blocks) and the manifest in another; no server-side compression; no
    /// <c>READ_REPLICATION_SLOT</c>. End of life since November 2026, still supported so that its clusters can be
    /// backed up while they are migrated.
    /// </summary>
    public static readonly PostgresMajor V14 = new(14, optionListBaseBackup: false, serverCompression: false, readReplicationSlot: false);

    /// <summary>PostgreSQL 15: <c>BASE_BACKUP (option, …)</c> with one COPY OUT of tagged messages, server-side zstd.</summary>
    public static readonly PostgresMajor V15 = new(15, optionListBaseBackup: true, serverCompression: true, readReplicationSlot: true);

    /// <summary>PostgreSQL 16: as 15 for everything PgVault does.</summary>
    public static readonly PostgresMajor V16 = new(16, optionListBaseBackup: true, serverCompression: true, readReplicationSlot: true);

    /// <summary>PostgreSQL 17: as 15 for everything PgVault does (its incremental base backups are not used).</summary>
    public static readonly PostgresMajor V17 = new(17, optionListBaseBackup: true, serverCompression: true, readReplicationSlot: true);

    /// <summary>PostgreSQL 18: as 15 for everything PgVault does.</summary>
    public static readonly PostgresMajor V18 = new(18, optionListBaseBackup: true, serverCompression: true, readReplicationSlot: true);

    /// <summary>Every supported major, oldest first.</summary>
    public static IReadOnlyList<PostgresMajor> Supported { get; } = [V14, V15, V16, V17, V18];

    /// <summary>The supported majors as operators read them: "14, 15, 16, 17 and 18".</summary>
    public static string SupportedText { get; } =
        string.Join(", ", Supported.Take(Supported.Count - 1).Select(m => m.ToString())) + " and " + Supported[^1];

    /// <summary>The major number (14, 15, …), as <c>PG_VERSION</c> and the API's <c>version</c> hold it.</summary>
    public int Number { get; }

    /// <summary>
    /// 15 and later: <c>BASE_BACKUP (LABEL '…', CHECKPOINT 'fast', …)</c> answered by one COPY OUT whose CopyData carry a
    /// type byte (<c>n</c> new archive, <c>d</c> data, <c>m</c> manifest, <c>p</c> progress), each tar ending with its
    /// end-of-archive blocks. Before: <c>BASE_BACKUP LABEL '…' FAST …</c>, one COPY OUT of plain tar bytes per
    /// archive (without the end-of-archive blocks), then one for the manifest.
    /// </summary>
    public bool OptionListBaseBackup { get; }

    /// <summary>15 and later: <c>BASE_BACKUP</c> can compress on the server (<c>COMPRESSION 'zstd'</c>).</summary>
    public bool ServerCompression { get; }

    /// <summary>15 and later: the replication command <c>READ_REPLICATION_SLOT</c>; before, a slot is found by creating it.</summary>
    public bool ReadReplicationSlot { get; }

    /// <summary>The supported major <paramref name="number"/>, or null.</summary>
    public static PostgresMajor? Find(int number) => Supported.FirstOrDefault(m => m.Number == number);

    /// <summary>The supported major <paramref name="number"/>; throws <see cref="ErrorCode.PostgresMajorUnsupported"/> naming <paramref name="what"/>.</summary>
    public static PostgresMajor Require(int number, string what) =>
        Find(number) ?? throw new PgVaultException(ErrorCode.PostgresMajorUnsupported,
            $"{what} runs PostgreSQL {number}, which PgVault does not support (supported: {SupportedText})",
            number < Supported[0].Number
                ? $"upgrade the cluster to PostgreSQL {Supported[0].Number} or later (pg_upgrade), or back it up with a tool that still supports {number}"
                : $"use a PgVault release that supports PostgreSQL {number}, or keep the cluster on {Supported[^1].Number} or older");

    /// <summary>
    /// The supported major named by <paramref name="text"/> (a backup's <c>version</c>, a <c>PG_VERSION</c> file's
    /// content); throws <see cref="ErrorCode.PostgresMajorUnsupported"/> naming <paramref name="what"/>.
    /// </summary>
    public static PostgresMajor Require(string text, string what)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            throw new PgVaultException(ErrorCode.PostgresMajorUnsupported, $"{what} names PostgreSQL '{text.Trim()}', which is not a major version",
                $"supported: {SupportedText}");
        }

        return Require(number, what);
    }

    /// <summary>
    /// SQL that checks every B-tree index of the connected database with amcheck's <c>bt_index_check(index,
    /// heapallindexed)</c>, one row per index; a problem fails the statement (amcheck raises it as an error). With
    /// <see cref="AmcheckHeapSql"/>, what <c>pg_amcheck --all</c> checks, for binaries that have no <c>pg_amcheck</c>
    /// (the server-only builds). Needs the amcheck extension in the database; temporary relations and indexes not yet
    /// valid are skipped, as pg_amcheck skips them. The same from 14 to 18.
    /// </summary>
    public string AmcheckIndexSql =>
        """
        SELECT c.oid::regclass::text, bt_index_check(c.oid, true)::text
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_am a ON a.oid = c.relam
        WHERE a.amname = 'btree' AND i.indisvalid AND i.indisready AND c.relpersistence <> 't'
        """;

    /// <summary>
    /// SQL that checks every table, materialized view and TOAST table of the connected database with amcheck's
    /// <c>verify_heapam(relation)</c>: one row per problem (none when the heap is sound). The same from 14 to 18.
    /// </summary>
    public string AmcheckHeapSql =>
        """
        SELECT format('relation %s, block %s, offset %s: %s', c.oid::regclass, v.blkno, v.offnum, v.msg)
        FROM pg_class c
        CROSS JOIN LATERAL verify_heapam(c.oid) v
        WHERE c.relkind IN ('r', 'm', 't') AND c.relpersistence <> 't'
        """;

    public override string ToString() => Number.ToString(CultureInfo.InvariantCulture);
}

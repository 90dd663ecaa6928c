using System.Text.Json;
using System.Text.Json.Serialization;
using PgVault.Engine.Compression;
using PgVault.Storage;

namespace PgVault.Engine.Repository;

/// <summary>
/// <c>chain.json</c>: what a chain is, written once when the chain starts, so the repository describes itself
/// (<c>pgvault catalog rebuild</c> reads it).
/// </summary>
public sealed record ChainMetadata
{
    /// <summary>The format this object was written in (see <see cref="RepositoryFormat"/>).</summary>
    public int FormatVersion { get; init; } = RepositoryFormat.ChainVersion;

    public required string BackupId { get; init; }

    public required string ClusterId { get; init; }

    public required string ChainId { get; init; }

    public required string SystemIdentifier { get; init; }

    public required uint Timeline { get; init; }

    public required string StartLsn { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public required string PostgresMajor { get; init; }

    public required string Location { get; init; }

    public long WalSegmentSizeBytes { get; init; } = PgVault.Postgres.WalSegment.DefaultSizeBytes;
}

/// <summary>One stored part of a base backup's tar stream (or the stored manifest).</summary>
/// <param name="Key">The object.</param>
/// <param name="SizeBytes">
/// Bytes of the tar stream it holds; with <paramref name="StoredChecksum"/> the bytes of the files in it (from the
/// manifest: the tar's headers not counted, for progress reports only).
/// </param>
/// <param name="StoredBytes">Bytes stored (compressed).</param>
/// <param name="Sha256">SHA-256 of the tar bytes it holds, or with <paramref name="StoredChecksum"/> of the stored bytes.</param>
/// <param name="StoredChecksum">
/// <see cref="Sha256"/> is that of the stored bytes: a part the database server compressed (BASE_BACKUP's
/// COMPRESSION), which PgVault stores as it arrives without decompressing it.
/// </param>
public sealed record BaseBackupPart(string Key, long SizeBytes, long StoredBytes, string Sha256,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] bool StoredChecksum = false)
{
    /// <summary>Opens the part for reading its tar bytes, verified (SHA-256 and size) when the stream reaches its end.</summary>
    public Task<VerifyingReadStream> OpenVerifiedAsync(IObjectStore store, CancellationToken ct) =>
        store.OpenVerifiedAsync(Key, ZstdCodec.Default, Sha256, ct, StoredChecksum ? StoredBytes : SizeBytes, StoredChecksum);
}

/// <summary>
/// <c>backup.json</c>: a base backup's metadata, written after all its parts and before its completion marker.
/// </summary>
public sealed record BaseBackupMetadata
{
    /// <summary>
    /// The format this object was written in (see <see cref="RepositoryFormat"/>): 1 for a full base backup, 2 for an
    /// incremental one (an older PgVault must refuse it: its parts alone are not the data directory).
    /// </summary>
    public int FormatVersion { get; init; } = RepositoryFormat.FullBaseBackupVersion;

    /// <summary>Full (absent in format 1), diff (changes since the last full) or incr (changes since the last base backup).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public BaseBackupType Type { get; init; }

    /// <summary>
    /// Labels of the base backups an incremental one needs, oldest (the full) first, its direct reference last; absent for
    /// a full base backup. Restoring it applies each of them in this order, then itself.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? References { get; init; }

    /// <summary>
    /// The block map: for every file of the tar its size and the XxHash128 of each 8 KiB block (see <c>BlockMap</c>), the
    /// reference a later incremental compares with. Absent in base backups that recorded none (server-compressed ones).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public BaseBackupPart? BlockMap { get; init; }

    /// <summary>The label of the base backup this one holds the changes since (the last of <see cref="References"/>).</summary>
    [JsonIgnore]
    public string? Reference => References is { Count: > 0 } r ? r[^1] : null;

    public required string BackupId { get; init; }

    public required string Label { get; init; }

    public required uint Timeline { get; init; }

    public required string StartLsn { get; init; }

    public required string EndLsn { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public required DateTimeOffset CompletedAt { get; init; }

    /// <summary>Bytes of the tar stream (the database as copied).</summary>
    public required long DatabaseBytes { get; init; }

    public required IReadOnlyList<BaseBackupPart> Parts { get; init; }

    /// <summary>Key of PostgreSQL's <c>backup_manifest</c> (also inside the tar), for <c>pg_verifybackup</c>.</summary>
    public required BaseBackupPart Manifest { get; init; }

    public required string Compression { get; init; }

    /// <summary>
    /// The next transaction id (64-bit, epoch in the high half) as of a checkpoint at or after the base backup's start
    /// (<c>pg_control_checkpoint()</c> once the backup has started): every transaction with this id or a later one
    /// commits after the start, so replay from this base backup sees its commit. Lets a restore to an xid start from
    /// the newest base backup that reaches it. Absent in base backups taken before it was recorded.
    /// </summary>
    public ulong? NextXid { get; init; }

    /// <summary>The name of <see cref="BaseBackupType.Full"/> as the API and <c>pgvault info</c> show it.</summary>
    public const string FullType = "full";
}

/// <summary>
/// <c>annotation.json</c>: what an operator said about one complete base backup (<c>pgvault annotate</c>): whether expiry
/// must keep it, and free key/value annotations. Its own object beside <c>backup.json</c>, which is never rewritten once
/// committed; replaced whole by each annotate. Absent: not kept, no annotations.
/// </summary>
public sealed record BaseBackupAnnotation
{
    /// <summary>The format this object was written in (see <see cref="RepositoryFormat"/>).</summary>
    public int FormatVersion { get; init; } = RepositoryFormat.AnnotationVersion;

    /// <summary>The base backup's label (the folder it lies in).</summary>
    public required string Label { get; init; }

    /// <summary>
    /// Expiry never deletes the base backup, nor the WAL from its start to its consistency point (its start and stop LSN),
    /// whatever the retention says.
    /// </summary>
    public bool Keep { get; init; }

    /// <summary>Free annotations, by key (ordinal order).</summary>
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new SortedDictionary<string, string>(StringComparer.Ordinal);

    /// <summary>When it was last written.</summary>
    public required DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>What a base backup holds: every file (full), or the changes since an earlier base backup (pgBackRest's words).</summary>
public enum BaseBackupType
{
    /// <summary>Every file whole.</summary>
    [JsonStringEnumMemberName("full")]
    Full,

    /// <summary>Changed blocks and files since the last full base backup.</summary>
    [JsonStringEnumMemberName("diff")]
    Diff,

    /// <summary>Changed blocks and files since the last base backup of any type.</summary>
    [JsonStringEnumMemberName("incr")]
    Incr,
}

/// <summary>Names of <see cref="BaseBackupType"/> as <c>backup.json</c>, the catalog and the API spell them.</summary>
public static class BaseBackupTypes
{
    /// <summary><c>full</c>, <c>diff</c> or <c>incr</c>.</summary>
    public static string Name(this BaseBackupType type) => type switch
    {
        BaseBackupType.Diff => "diff",
        BaseBackupType.Incr => "incr",
        _ => PgVault.Catalog.BaseBackupRecord.FullType,
    };

    /// <summary>The type named <paramref name="name"/> (<c>full</c>, <c>diff</c> or <c>incr</c>, any case), or null.</summary>
    public static BaseBackupType? Parse(string? name) => name?.ToLowerInvariant() switch
    {
        "full" => BaseBackupType.Full,
        "diff" => BaseBackupType.Diff,
        "incr" => BaseBackupType.Incr,
        _ => null,
    };
}

/// <summary>
/// <c>expiry.json</c>: written by expiry after it deleted the base backups that needed older WAL and before it deletes
/// that WAL, so readers know the chain's WAL now starts at <see cref="WalStartLsn"/> (not at <c>chain.json</c>'s start)
/// and a missing segment after it is still a gap. Replaced by each expiry that moves the start.
/// </summary>
public sealed record ExpiryMetadata
{
    /// <summary>The format this object was written in (see <see cref="RepositoryFormat"/>).</summary>
    public int FormatVersion { get; init; } = RepositoryFormat.ExpiryVersion;

    /// <summary>First WAL position kept: the start of the segment holding the oldest kept base backup's start.</summary>
    public required string WalStartLsn { get; init; }

    public required DateTimeOffset ExpiredAt { get; init; }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(ChainMetadata))]
[JsonSerializable(typeof(BaseBackupMetadata))]
[JsonSerializable(typeof(ExpiryMetadata))]
[JsonSerializable(typeof(BaseBackupAnnotation))]
internal sealed partial class MetadataJson : JsonSerializerContext
{
    public static byte[] Serialize<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) =>
        JsonSerializer.SerializeToUtf8Bytes(value, info);
}

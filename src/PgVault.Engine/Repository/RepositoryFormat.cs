using System.Text.Json;
using PgVault.Errors;

namespace PgVault.Engine.Repository;

/// <summary>
/// The format versions of the repository's metadata objects, and the gate every read of them passes: an object written in
/// a newer format than this PgVault reads is refused (<see cref="ErrorCode.RepositoryFormatTooNew"/>) instead of being
/// misread, as pgBackRest refuses an <c>info</c> file of a newer format. docs/REPOSITORY-FORMAT.md holds the bump policy.
/// </summary>
/// <remarks>
/// A version goes up when an older PgVault would misread or mis-restore what a newer one writes (a new kind of part, a
/// checksum over other bytes); a new optional field that an older reader may ignore does not bump it. Incremental base
/// backups write <c>backup.json</c> format 2: readers of format 1 refuse those base backups.
/// </remarks>
public static class RepositoryFormat
{
    /// <summary>The newest format of any metadata object this PgVault writes and reads.</summary>
    public const int CurrentVersion = 2;

    /// <summary>Format of <c>chain.json</c> this PgVault writes (and the newest it reads).</summary>
    public const int ChainVersion = 1;

    /// <summary>
    /// The newest format of <c>backup.json</c> this PgVault reads: 2, an incremental base backup (<c>diff</c>, <c>incr</c>)
    /// whose parts need an earlier base backup's files. Full base backups are still written as
    /// <see cref="FullBaseBackupVersion"/>, so an older PgVault keeps restoring them.
    /// </summary>
    public const int BaseBackupVersion = 2;

    /// <summary>Format of the <c>backup.json</c> of a full base backup (its optional block map an older reader ignores).</summary>
    public const int FullBaseBackupVersion = 1;

    /// <summary>Format of the <c>backup.json</c> of an incremental base backup: readers of format 1 refuse it.</summary>
    public const int IncrementalBaseBackupVersion = 2;

    /// <summary>Format of <c>expiry.json</c> this PgVault writes (and the newest it reads).</summary>
    public const int ExpiryVersion = 1;

    /// <summary>Format of a base backup's <c>annotation.json</c> this PgVault writes (and the newest it reads).</summary>
    public const int AnnotationVersion = 1;

    /// <summary>
    /// Throws <see cref="ErrorCode.RepositoryFormatTooNew"/> when the JSON object <paramref name="json"/> (read from
    /// <paramref name="key"/>) carries a <c>formatVersion</c> above <paramref name="readable"/>. Checked before the object
    /// is deserialized, so a newer format whose fields no longer fit fails with this error, not with a parse error. An
    /// object without the field is format 1 (as every object PgVault wrote has carried it, that means a hand-made one).
    /// </summary>
    public static void Check(ReadOnlySpan<byte> json, string key, int readable)
    {
        var version = 1;
        try
        {
            var reader = new Utf8JsonReader(json);
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isVersion = reader.ValueTextEquals("formatVersion"u8);
                    reader.Read();
                    if (isVersion && reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var v))
                    {
                        version = v;
                        break;
                    }

                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON at all: the deserializer reports it (as a corrupt object).
        }

        if (version > readable)
            throw TooNew(key, version, readable);
    }

    /// <summary>The error for an object of format <paramref name="version"/> where this PgVault reads up to <paramref name="readable"/>.</summary>
    public static PgVaultException TooNew(string key, int version, int readable) =>
        new(ErrorCode.RepositoryFormatTooNew,
            $"'{key}' was written by a newer PgVault (format {version}); this one reads up to {readable}",
            "run a PgVault at least as new as the one that wrote this repository");
}

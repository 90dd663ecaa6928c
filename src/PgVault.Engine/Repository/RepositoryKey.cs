using System.Globalization;
using PgVault.Postgres;

namespace PgVault.Engine.Repository;

/// <summary>What an object under a chain's prefix is, by its key (see <see cref="RepositoryLayout"/>).</summary>
public enum RepositoryObjectKind
{
    /// <summary>Under the chain's prefix but not part of the layout this PgVault knows.</summary>
    Unknown,

    /// <summary><c>chain.json</c>.</summary>
    ChainMetadata,

    /// <summary><c>expiry.json</c>.</summary>
    ExpiryRecord,

    /// <summary>A complete WAL segment: <c>wal/{TTTTTTTT}/{segment}-{sha256}.zst</c>.</summary>
    WalSegment,

    /// <summary>A durable piece of a segment: <c>wal/{TTTTTTTT}/{segment}.partial/{offset:X8}-{end:X8}-{sha256}.zst</c>.</summary>
    WalPiece,

    /// <summary>A timeline history file: <c>wal/history/{TTTTTTTT}.history</c>.</summary>
    History,

    /// <summary>A part of a base backup's tar stream: <c>base/{label}/data.{part:D5}.tar.zst</c>.</summary>
    BaseBackupPart,

    /// <summary>PostgreSQL's <c>backup_manifest</c> of a base backup: <c>base/{label}/backup_manifest.zst</c>.</summary>
    BaseBackupManifest,

    /// <summary>A base backup's metadata: <c>base/{label}/backup.json</c>.</summary>
    BaseBackupMetadata,

    /// <summary>A base backup's completion marker, written last: <c>base/{label}/backup.complete</c>.</summary>
    BaseBackupMarker,

    /// <summary>A base backup's annotations and keep flag: <c>base/{label}/annotation.json</c>.</summary>
    BaseBackupAnnotation,

    /// <summary>Any other object directly under a base backup's prefix (it goes with the base backup).</summary>
    BaseBackupOther,
}

/// <summary>
/// A repository key parsed: which chain it belongs to and what it is. The one parser of keys, the counterpart of
/// <see cref="RepositoryLayout"/> (which builds them); <c>RepositoryKeyTests</c> checks that each parses what the other builds.
/// </summary>
public sealed record RepositoryKey(string Key, RepositoryObjectKind Kind, string ClusterId, string ChainId)
{
    /// <summary>Timeline of a WAL segment, piece or history file.</summary>
    public uint Timeline { get; init; }

    /// <summary>Segment number of a WAL segment or piece.</summary>
    public ulong Segment { get; init; }

    /// <summary>First byte (within the segment) a WAL piece holds; 0 for a whole segment.</summary>
    public long Offset { get; init; }

    /// <summary>End (exclusive, within the segment) of what a WAL piece holds; the segment size for a whole segment.</summary>
    public long End { get; init; }

    /// <summary>SHA-256 (64 lowercase hex digits) of the uncompressed content of a WAL segment or piece.</summary>
    public string Sha256 { get; init; } = "";

    /// <summary>The base backup's label, for objects under <c>base/{label}/</c>.</summary>
    public string Label { get; init; } = "";

    /// <summary>Part number of a base backup part.</summary>
    public int Part { get; init; }

    /// <summary>The object lies under the chain's <c>wal/</c> folder (counted as the chain's WAL, known or not).</summary>
    public bool InWal { get; init; }

    private const string Zst = RepositoryLayout.CompressedSuffix;

    /// <summary>
    /// Parses <paramref name="key"/>. False when it does not lie under a chain (<c>clusters/{cluster}/chains/{chain}/…</c>);
    /// true with <see cref="RepositoryObjectKind.Unknown"/> for an object under a chain that is not part of the layout.
    /// </summary>
    public static bool TryParse(string? key, out RepositoryKey parsed)
    {
        parsed = null!;
        if (key is null)
            return false;
        var parts = key.Split('/');
        if (parts.Length < 5 || parts[0] != "clusters" || parts[2] != "chains" || parts[1].Length == 0 || parts[3].Length == 0)
            return false;
        var unknown = new RepositoryKey(key, RepositoryObjectKind.Unknown, parts[1], parts[3]);
        parsed = unknown;
        var rest = parts.AsSpan(4);
        switch (rest)
        {
            case ["chain.json"]:
                parsed = unknown with { Kind = RepositoryObjectKind.ChainMetadata };
                return true;
            case ["expiry.json"]:
                parsed = unknown with { Kind = RepositoryObjectKind.ExpiryRecord };
                return true;
            case ["wal", ..]:
                parsed = ParseWal(unknown with { InWal = true }, rest[1..]);
                return true;
            case ["base", var label, var file] when label.Length > 0 && file.Length > 0:
                parsed = ParseBase(unknown with { Label = label, Kind = RepositoryObjectKind.BaseBackupOther }, file);
                return true;
            default:
                return true;
        }
    }

    /// <summary>Parses a complete segment's file name (<c>{segment}-{sha256}.zst</c>).</summary>
    public static bool TryParseWalSegmentFile(string? fileName, out string segmentName, out string sha256)
    {
        segmentName = sha256 = "";
        if (fileName is null || fileName.Length != 24 + 1 + 64 + Zst.Length || !fileName.EndsWith(Zst, StringComparison.Ordinal) || fileName[24] != '-')
            return false;
        var name = fileName[..24];
        var sha = fileName[25..89];
        if (!WalSegment.TryParse(name, out _, out _) || !IsSha256(sha))
            return false;
        (segmentName, sha256) = (name, sha);
        return true;
    }

    private static RepositoryKey ParseWal(RepositoryKey k, ReadOnlySpan<string> rest)
    {
        if (rest is ["history", var history])
        {
            return history.Length == 16 && history.EndsWith(".history", StringComparison.Ordinal) && IsHex(history.AsSpan(0, 8))
                ? k with { Kind = RepositoryObjectKind.History, Timeline = uint.Parse(history.AsSpan(0, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture) }
                : k;
        }

        if (rest is [var folder, var file] && TryParseWalSegmentFile(file, out var name, out var sha)
            && WalSegment.TryParse(name, out var timeline, out var number) && folder == Hex8(timeline))
        {
            return k with
            {
                Kind = RepositoryObjectKind.WalSegment, Timeline = timeline, Segment = number, Offset = 0, End = WalSegment.DefaultSizeBytes, Sha256 = sha,
            };
        }

        if (rest is [var pieceFolder, var partial, var piece] && partial.Length == 24 + ".partial".Length
            && partial.EndsWith(".partial", StringComparison.Ordinal) && WalSegment.TryParse(partial[..24], out var ptl, out var pnumber)
            && pieceFolder == Hex8(ptl) && piece.EndsWith(Zst, StringComparison.Ordinal))
        {
            var fields = piece[..^Zst.Length].Split('-');
            if (fields is [var from, var to, var psha] && from.Length == 8 && to.Length == 8 && IsHex(from) && IsHex(to) && IsSha256(psha))
            {
                var offset = long.Parse(from, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                var end = long.Parse(to, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (offset <= end && end <= WalSegment.DefaultSizeBytes)
                {
                    return k with
                    {
                        Kind = RepositoryObjectKind.WalPiece, Timeline = ptl, Segment = pnumber, Offset = offset, End = end, Sha256 = psha,
                    };
                }
            }
        }

        return k;
    }

    private static RepositoryKey ParseBase(RepositoryKey k, string file)
    {
        switch (file)
        {
            case "backup.json":
                return k with { Kind = RepositoryObjectKind.BaseBackupMetadata };
            case "backup.complete":
                return k with { Kind = RepositoryObjectKind.BaseBackupMarker };
            case "annotation.json":
                return k with { Kind = RepositoryObjectKind.BaseBackupAnnotation };
            case "backup_manifest" + Zst:
                return k with { Kind = RepositoryObjectKind.BaseBackupManifest };
        }

        // data.{part:D5}.tar.zst
        const string head = "data.", tail = ".tar" + Zst;
        if (file.Length == head.Length + 5 + tail.Length && file.StartsWith(head, StringComparison.Ordinal) && file.EndsWith(tail, StringComparison.Ordinal)
            && int.TryParse(file.AsSpan(head.Length, 5), NumberStyles.None, CultureInfo.InvariantCulture, out var part))
            return k with { Kind = RepositoryObjectKind.BaseBackupPart, Part = part };
        // delta.{part:D5}.zst (an incremental base backup)
        const string deltaHead = "delta.";
        if (file.Length == deltaHead.Length + 5 + Zst.Length && file.StartsWith(deltaHead, StringComparison.Ordinal) && file.EndsWith(Zst, StringComparison.Ordinal)
            && int.TryParse(file.AsSpan(deltaHead.Length, 5), NumberStyles.None, CultureInfo.InvariantCulture, out var deltaPart))
            return k with { Kind = RepositoryObjectKind.BaseBackupPart, Part = deltaPart };
        return k;
    }

    private static string Hex8(uint value) => value.ToString("X8", CultureInfo.InvariantCulture);

    private static bool IsHex(ReadOnlySpan<char> text) => !text.IsEmpty && !text.ContainsAnyExcept("0123456789ABCDEFabcdef");

    private static bool IsSha256(string text) => text.Length == 64 && IsHex(text);
}

using System.Globalization;
using PgVault.Errors;
using PgVault.Postgres;

namespace PgVault.Engine.Repository;

/// <summary>
/// The one place that builds repository keys (<see cref="RepositoryKey"/> parses them). Everything of a backup (chain) lives under
/// <c>clusters/&lt;clusterId&gt;/chains/&lt;chainId&gt;/</c>; keys sort in time order within each folder.
/// Objects holding data end in <c>.zst</c> (zstd-compressed) and carry the SHA-256 of their uncompressed content in
/// their name or in the base backup's metadata, so a reader can always check what it read.
/// </summary>
/// <remarks>
/// <code>
/// clusters/{cluster}/chains/{chain}/chain.json                              chain metadata (self-describing)
/// clusters/{cluster}/chains/{chain}/expiry.json                             where the chain's WAL starts after expiry
/// clusters/{cluster}/chains/{chain}/wal/{TTTTTTTT}/{segment}-{sha256}.zst    a complete WAL segment
/// clusters/{cluster}/chains/{chain}/wal/{TTTTTTTT}/{segment}.partial/{offset:X8}-{end:X8}-{sha256}.zst
///                                                                           durable pieces of the segment being written
/// clusters/{cluster}/chains/{chain}/wal/history/{TTTTTTTT}.history          timeline history file (small, uncompressed)
/// clusters/{cluster}/chains/{chain}/base/{label}/data.{part:D5}.tar.zst      base backup tar stream, in parts
/// clusters/{cluster}/chains/{chain}/base/{label}/backup_manifest.zst       PostgreSQL's backup_manifest, compressed
/// clusters/{cluster}/chains/{chain}/base/{label}/delta.{part:D5}.zst         incremental base backup's changes, in parts
/// clusters/{cluster}/chains/{chain}/base/{label}/blockmap.zst              XxHash128 of every 8 KiB block of every file (incremental)
/// clusters/{cluster}/chains/{chain}/base/{label}/backup.json                base backup metadata (parts, checksums, LSNs)
/// clusters/{cluster}/chains/{chain}/base/{label}/backup.complete            completion marker, written last
/// clusters/{cluster}/chains/{chain}/base/{label}/annotation.json            keep flag and annotations (pgvault annotate)
/// probes/readyz-{random}                                                    written and deleted at once by GET /readyz
/// check/{host}-{random}                                                     written, read, listed and deleted by pgvault check
/// </code>
/// </remarks>
public static class RepositoryLayout
{
    public const string CompressedSuffix = ".zst";

    /// <summary>Everything of every cluster lies under this prefix.</summary>
    public const string ClustersPrefix = "clusters/";

    public static string ClusterPrefix(string clusterId) => $"{ClustersPrefix}{Check(clusterId)}/";

    public static string ChainPrefix(string clusterId, string chainId) => $"{ClusterPrefix(clusterId)}chains/{Check(chainId)}/";

    public static string Chain(string clusterId, string chainId) => ChainPrefix(clusterId, chainId) + "chain.json";

    /// <summary>Written by expiry before it deletes WAL: the chain's WAL starts there from then on.</summary>
    public static string ChainExpiry(string clusterId, string chainId) => ChainPrefix(clusterId, chainId) + "expiry.json";

    public static string WalPrefix(string clusterId, string chainId) => ChainPrefix(clusterId, chainId) + "wal/";

    public static string WalTimelinePrefix(string clusterId, string chainId, uint timeline) =>
        string.Create(CultureInfo.InvariantCulture, $"{WalPrefix(clusterId, chainId)}{timeline:X8}/");

    public static string WalSegment(string clusterId, string chainId, uint timeline, string segmentName, string sha256) =>
        $"{WalTimelinePrefix(clusterId, chainId, timeline)}{segmentName}-{sha256}{CompressedSuffix}";

    /// <summary>Lists the whole-segment object of <paramref name="segmentName"/> (its key continues with the SHA-256).</summary>
    public static string WalSegmentPrefix(string clusterId, string chainId, uint timeline, string segmentName) =>
        $"{WalTimelinePrefix(clusterId, chainId, timeline)}{segmentName}-";

    public static string WalPartialPrefix(string clusterId, string chainId, uint timeline, string segmentName) =>
        $"{WalTimelinePrefix(clusterId, chainId, timeline)}{segmentName}.partial/";

    /// <summary>A durable piece of a partial segment: bytes [<paramref name="offset"/>, <paramref name="end"/>) of it.</summary>
    public static string WalPartial(string clusterId, string chainId, uint timeline, string segmentName, long offset, long end, string sha256) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{WalPartialPrefix(clusterId, chainId, timeline, segmentName)}{offset:X8}-{end:X8}-{sha256}{CompressedSuffix}");

    public static string History(string clusterId, string chainId, uint timeline) =>
        $"{WalPrefix(clusterId, chainId)}history/{PgVault.Postgres.WalSegment.HistoryName(timeline)}";

    public static string BasePrefix(string clusterId, string chainId) => ChainPrefix(clusterId, chainId) + "base/";

    public static string BaseBackupPrefix(string clusterId, string chainId, string label) =>
        $"{BasePrefix(clusterId, chainId)}{Check(label)}/";

    public static string BaseBackupPart(string clusterId, string chainId, string label, int part) =>
        string.Create(CultureInfo.InvariantCulture, $"{BaseBackupPrefix(clusterId, chainId, label)}data.{part:D5}.tar{CompressedSuffix}");

    /// <summary>Part <paramref name="part"/> of an incremental base backup's changes (see <c>DeltaStream</c>).</summary>
    public static string BaseBackupDeltaPart(string clusterId, string chainId, string label, int part) =>
        string.Create(CultureInfo.InvariantCulture, $"{BaseBackupPrefix(clusterId, chainId, label)}delta.{part:D5}{CompressedSuffix}");

    /// <summary>PostgreSQL's <c>backup_manifest</c> of the base backup, compressed (also inside the tar).</summary>
    public static string BaseBackupManifest(string clusterId, string chainId, string label) =>
        BaseBackupPrefix(clusterId, chainId, label) + "backup_manifest" + CompressedSuffix;

    /// <summary>The base backup's block map: per file its size and the XxHash128 of each 8 KiB block (see <c>BlockMap</c>).</summary>
    public static string BaseBackupBlockMap(string clusterId, string chainId, string label) =>
        BaseBackupPrefix(clusterId, chainId, label) + "blockmap" + CompressedSuffix;

    public static string BaseBackupMetadata(string clusterId, string chainId, string label) =>
        BaseBackupPrefix(clusterId, chainId, label) + "backup.json";

    /// <summary>
    /// A short-lived object <c>GET /readyz</c> writes and deletes to prove the repository is writable. Outside
    /// <c>clusters/</c>, so no reader of backups ever sees it.
    /// </summary>
    public static string ReadinessProbe(string probeId) => $"probes/readyz-{Check(probeId)}";

    /// <summary>Where <c>pgvault check</c> puts its probe objects (outside <c>clusters/</c>, like <see cref="ReadinessProbe"/>).</summary>
    public const string CheckProbePrefix = "check/";

    /// <summary>
    /// A short-lived object <c>pgvault check</c> writes, reads, lists and deletes; <paramref name="host"/> names the machine
    /// (characters a key cannot hold become <c>_</c>).
    /// </summary>
    public static string CheckProbe(string host, string probeId)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        var safe = string.Concat(host.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '=' ? c : '_')).Replace("..", "__", StringComparison.Ordinal);
        return $"{CheckProbePrefix}{Check(safe)}-{Check(probeId)}";
    }

    public static string BaseBackupComplete(string clusterId, string chainId, string label) =>
        BaseBackupPrefix(clusterId, chainId, label) + "backup.complete";

    /// <summary>The base backup's keep flag and annotations, written by <c>pgvault annotate</c> after it completed.</summary>
    public static string BaseBackupAnnotation(string clusterId, string chainId, string label) =>
        BaseBackupPrefix(clusterId, chainId, label) + "annotation.json";

    /// <summary>Parses a complete-segment key's file name (<c>{segment}-{sha256}.zst</c>); see <see cref="RepositoryKey"/>.</summary>
    public static bool TryParseWalSegmentFile(string fileName, out string segmentName, out string sha256) =>
        RepositoryKey.TryParseWalSegmentFile(fileName, out segmentName, out sha256);

    private static string Check(string part)
    {
        ArgumentException.ThrowIfNullOrEmpty(part);
        if (part.AsSpan().ContainsAnyExcept("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.=") || part.Contains("..", StringComparison.Ordinal))
            throw new PgVaultException(ErrorCode.InvalidObjectKey, $"'{part}' cannot be part of a repository key");
        return part;
    }
}

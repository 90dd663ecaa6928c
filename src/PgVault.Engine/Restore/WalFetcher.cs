using System.Globalization;
using PgVault.Engine.Chains;
using PgVault.Engine.Compression;
using PgVault.Engine.Storage;
using PgVault.Catalog;
using PgVault.Engine.Repository;
using PgVault.Errors;
using PgVault.Storage;

namespace PgVault.Engine.Restore;

/// <summary>Serves WAL to PostgreSQL's <c>restore_command</c> from a chain in the repository.</summary>
public static class WalFetcher
{
    /// <summary>Exit status when the file simply does not exist (PostgreSQL then ends recovery or tries another timeline).</summary>
    public const int NotFound = 1;

    /// <summary>Exit status above 125: PostgreSQL aborts recovery instead of treating the file as the end of WAL.</summary>
    public const int Fatal = 126;

    /// <summary>(cluster id, chain id) of a PgVault backup id <c>&lt;clusterId&gt;-&lt;chainId&gt;-&lt;major&gt;</c>.</summary>
    public static (string ClusterId, string ChainId) ParseBackupId(string backupId)
    {
        var id = BackupId.Parse(backupId);
        return (id.ClusterId, id.ChainId);
    }

    /// <summary>Writes WAL file <paramref name="fileName"/> (a segment or a history file) to <paramref name="destination"/>.</summary>
    /// <returns>0, <see cref="NotFound"/>, or <see cref="Fatal"/> for a segment missing inside the chain's WAL.</returns>
    /// <remarks>With a <c>spool</c> (segments fetched ahead by <see cref="PrefetchAsync"/>), a segment found there is handed over first.</remarks>
    public static async Task<(int Code, string Message)> FetchAsync(IObjectStore store, string backupId, string fileName, string destination,
        CancellationToken ct, string? spool = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        var (cluster, chain) = ParseBackupId(backupId);
        if (spool is not null && IsSegmentName(fileName) && TrustedSpool(spool) is { } trusted
            && PrivateFiles.LStat(Path.Combine(trusted, fileName)) is { IsRegularFile: true, IsLink: false } spooled
            && spooled.Uid == PrivateFiles.EffectiveUid)
        {
            try
            {
                // Checked against its SHA-256 when it was fetched ahead into this private spool; a rename hands it over whole.
                File.Move(Path.Combine(trusted, fileName), destination, overwrite: true);
                return (0, $"{fileName}: restored (prefetched)");
            }
            catch (IOException)
            {
                // taken by another restore of the same backup, or another filesystem: fetch it here
            }
        }

        // The format gate: a chain written by a newer PgVault is not restored from (PostgreSQL stops recovery on Fatal).
        var repository = new ChainRepository(store, cluster, chain);
        await repository.ReadChainAsync(ct).ConfigureAwait(false);

        if (fileName.EndsWith(".history", StringComparison.Ordinal) && fileName.Length == 16
            && uint.TryParse(fileName.AsSpan(0, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var historyTimeline))
        {
            var source = await repository.OpenHistoryAsync(historyTimeline, ct).ConfigureAwait(false);
            if (source is null)
                return (NotFound, $"{fileName}: not in backup {backupId}");
            await using (source.ConfigureAwait(false))
                await WriteAtomicallyAsync(source, destination, ct).ConfigureAwait(false);
            return (0, $"{fileName}: restored");
        }

        if (!PgVault.Postgres.WalSegment.TryParse(fileName, out var timeline, out var number))
            return (NotFound, $"{fileName}: not a WAL file PgVault stores");

        if (await FetchWholeAsync(repository, timeline, fileName, destination, ct).ConfigureAwait(false))
            return (0, $"{fileName}: restored");

        // The chain's last segment is stored as pieces: the contiguous ones from its start, the rest zeros (end of WAL).
        if (await repository.ReadWalSegmentAsync(timeline, number, ct).ConfigureAwait(false) is { } partial)
        {
            using var source = new MemoryStream(partial.Data, writable: false);
            await WriteAtomicallyAsync(source, destination, ct).ConfigureAwait(false);
            return (0, $"{fileName}: restored (partial: {partial.Covered} bytes, the end of the backup's WAL)");
        }

        // Missing: fatal inside the chain's WAL, normal past its end (PostgreSQL asks for the next segment to find the end),
        // and normal before the chain's WAL start outside a base backup's own WAL: expiry removed it, and a restore from a
        // base backup kept there (pgvault annotate --keep) ends where that base backup's WAL ends.
        var scanned = await repository.ScanAsync(ct).ConfigureAwait(false);
        if (scanned is not null && scanned.Wal.Any(w => w.Segment > number && w.Timeline >= timeline))
        {
            if (number < PgVault.Postgres.WalSegment.Number(scanned.WalStart) && !InBaseBackupWal(scanned, number))
                return (NotFound, $"{fileName}: expired from backup {backupId} (before its WAL start {scanned.WalStart}): the end of the WAL kept here");
            return (Fatal, $"{fileName}: missing from backup {backupId} although its WAL continues past it; recovery must not stop early here");
        }

        return (NotFound, $"{fileName}: past the end of backup {backupId}'s WAL");
    }

    /// <summary>Whether segment <paramref name="number"/> lies between a complete base backup's start and stop (the WAL that makes it consistent).</summary>
    private static bool InBaseBackupWal(ScannedChain chain, ulong number) =>
        chain.BaseBackups.Any(b => b is { Complete: true, Metadata: { } m }
                                   && number >= PgVault.Postgres.WalSegment.Number(PgVault.Postgres.Lsn.Parse(m.StartLsn))
                                   && number <= PgVault.Postgres.WalSegment.Number(PgVault.Postgres.Lsn.Parse(m.EndLsn)));

    /// <summary>How many segments a restore keeps fetched ahead of PostgreSQL's requests by default (256 MiB in pg_wal).</summary>
    public const int DefaultPrefetchSegments = PgVault.Configuration.EngineOptions.DefaultWalPrefetchSegments;

    /// <summary>
    /// Where a restore's <c>restore_command</c> keeps segments fetched ahead: relative to the data directory (PostgreSQL
    /// runs the command there), inside its <c>pg_wal</c>, which only PostgreSQL's OS user can write.
    /// </summary>
    public const string SpoolDirectory = "pg_wal/pgvault-spool";

    /// <summary>The default spool for a <c>wal-fetch</c> writing to <paramref name="destination"/> (%p): beside it, in pg_wal.</summary>
    public static string DefaultSpool(string destination) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(destination))!, "pgvault-spool");

    /// <summary>The spool's full path when it is this user's private directory (created if absent); null (with no error) otherwise.</summary>
    private static string? TrustedSpool(string spool)
    {
        var full = Path.GetFullPath(spool);
        if (PrivateFiles.LStat(full) is null)
            return null;
        try
        {
            PrivateFiles.CheckPrivateDirectory(full, "the WAL spool");
            return full;
        }
        catch (PgVaultException)
        {
            return null; // not ours: nothing in it is used
        }
    }

    private static bool IsSegmentName(string fileName) => PgVault.Postgres.WalSegment.TryParse(fileName, out _, out _);

    /// <summary>
    /// Fetches up to <paramref name="count"/> whole segments after <paramref name="fileName"/> (same timeline) into
    /// <paramref name="spool"/>, each decompressed, checked and renamed into place complete, so the next requests of
    /// PostgreSQL's recovery find them there. Stops at the first segment the repository does not hold whole (the chain's
    /// head or a gap: <see cref="FetchAsync"/> then decides). Spooled segments older than an hour are removed.
    /// Returns how many segments were fetched.
    /// </summary>
    public static async Task<int> PrefetchAsync(IObjectStore store, string backupId, string fileName, int count, string spool, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (!PgVault.Postgres.WalSegment.TryParse(fileName, out var timeline, out var number))
            return 0;
        var (cluster, chain) = ParseBackupId(backupId);
        var repository = new ChainRepository(store, cluster, chain);
        spool = PrivateFiles.EnsurePrivateDirectory(spool, "the WAL spool");
        foreach (var old in Directory.EnumerateFiles(spool).Where(f => File.GetLastWriteTimeUtc(f) < DateTime.UtcNow.AddHours(-1)))
            File.Delete(old);
        var fetched = 0;
        for (var i = 1; i <= count; i++)
        {
            var name = PgVault.Postgres.WalSegment.Name(timeline, number + (ulong)i);
            var target = Path.Combine(spool, name);
            if (PrivateFiles.LStat(target) is not null)
                continue;
            if (!await FetchWholeAsync(repository, timeline, name, target, ct).ConfigureAwait(false))
                break;
            fetched++;
        }

        return fetched;
    }

    /// <summary>Writes one whole segment object (checked) to <paramref name="target"/>; false when the repository has none.</summary>
    private static async Task<bool> FetchWholeAsync(ChainRepository repository, uint timeline, string name, string target, CancellationToken ct)
    {
        if (await repository.FindWalSegmentAsync(timeline, name, ct).ConfigureAwait(false) is not { } segment)
            return false;
        var verified = await repository.OpenWalSegmentAsync(segment, ct).ConfigureAwait(false);
        await using (verified.ConfigureAwait(false))
            await WriteAtomicallyAsync(verified, target, ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Writes <paramref name="source"/> to a new temporary file beside <paramref name="destination"/> (created exclusively,
    /// mode 0600: never an existing file or a link), flushed to the device, then renames it over the destination.
    /// </summary>
    internal static async Task WriteAtomicallyAsync(Stream source, string destination, CancellationToken ct) =>
        await WriteAtomicallyAsync(source, destination, durable: true, ct).ConfigureAwait(false);

    /// <summary>
    /// As <see cref="WriteAtomicallyAsync(Stream, string, CancellationToken)"/>; not <paramref name="durable"/>: not flushed
    /// to the device (a segment fetched ahead into the spool that a crash loses is fetched again).
    /// </summary>
    internal static async Task WriteAtomicallyAsync(Stream source, string destination, bool durable, CancellationToken ct)
    {
        var temp = $"{destination}.pgvault-tmp-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6))}";
        try
        {
            var file = PrivateFiles.CreateNew(temp);
            await using (file.ConfigureAwait(false))
            {
                await source.CopyToAsync(file, 1 << 20, ct).ConfigureAwait(false);
                if (durable)
                    file.Flush(flushToDisk: true);
            }

            File.Move(temp, destination, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}

using System.Globalization;
using PgVault.Engine.Chains;
using PgVault.Engine.Compression;
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
        ArgumentNullException.ThrowIfNull(backupId);
        if (backupId.Length < 40 || !Guid.TryParseExact(backupId[..36], "D", out _) || backupId[36] != '-' || backupId.LastIndexOf('-') <= 37)
            throw new PgVaultException(ErrorCode.NotFound, $"'{backupId}' is not a PgVault backup id (<clusterId>-<suffix>-<major>)");
        var rest = backupId[37..];
        return (backupId[..36], rest[..rest.LastIndexOf('-')]);
    }

    /// <summary>Writes WAL file <paramref name="fileName"/> (a segment or a history file) to <paramref name="destination"/>.</summary>
    /// <returns>0, <see cref="NotFound"/>, or <see cref="Fatal"/> for a segment missing inside the chain's WAL.</returns>
    /// <remarks>With a <c>spool</c> (segments fetched ahead by <see cref="PrefetchAsync"/>), a segment found there is handed over first.</remarks>
    public static async Task<(int Code, string Message)> FetchAsync(IObjectStore store, string backupId, string fileName, string destination,
        CancellationToken ct, string? spool = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        var (cluster, chain) = ParseBackupId(backupId);
        if (spool is not null && IsSegmentName(fileName) && File.Exists(Path.Combine(spool, fileName)))
        {
            try
            {
                // Checked against its SHA-256 when it was fetched ahead; a rename hands it over whole.
                File.Move(Path.Combine(spool, fileName), destination, overwrite: true);
                return (0, $"{fileName}: restored (prefetched)");
            }
            catch (IOException)
            {
                // taken by another restore of the same backup, or another filesystem: fetch it here
            }
        }

        if (fileName.EndsWith(".history", StringComparison.Ordinal) && fileName.Length == 16
            && uint.TryParse(fileName.AsSpan(0, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var historyTimeline))
        {
            var key = RepositoryLayout.History(cluster, chain, historyTimeline);
            if (await store.StatAsync(key, ct).ConfigureAwait(false) is null)
                return (NotFound, $"{fileName}: not in backup {backupId}");
            var source = await store.OpenReadAsync(key, ReadRange.All, ct).ConfigureAwait(false);
            await using (source.ConfigureAwait(false))
                await WriteAtomicallyAsync(source, destination, ct).ConfigureAwait(false);
            return (0, $"{fileName}: restored");
        }

        if (!PgVault.Postgres.WalSegment.TryParse(fileName, out var timeline, out var number))
            return (NotFound, $"{fileName}: not a WAL file PgVault stores");

        if (await FetchWholeAsync(store, cluster, chain, timeline, fileName, destination, ct).ConfigureAwait(false))
            return (0, $"{fileName}: restored");

        // The chain's last segment is stored as pieces: the contiguous ones from its start, the rest zeros (end of WAL).
        if (await Wal.StoredSegment.ReadAsync(store, cluster, chain, timeline, number, ct).ConfigureAwait(false) is { } partial)
        {
            using var source = new MemoryStream(partial.Data, writable: false);
            await WriteAtomicallyAsync(source, destination, ct).ConfigureAwait(false);
            return (0, $"{fileName}: restored (partial: {partial.Covered} bytes, the end of the backup's WAL)");
        }

        // Missing: fatal inside the chain's WAL, normal past its end (PostgreSQL asks for the next segment to find the end).
        var scanned = (await RepositoryScanner.ScanAsync(store, cluster, ct).ConfigureAwait(false)).FirstOrDefault(c => c.ChainId == chain);
        if (scanned is not null && scanned.Wal.Any(w => w.Segment > number && w.Timeline >= timeline))
            return (Fatal, $"{fileName}: missing from backup {backupId} although its WAL continues past it; recovery must not stop early here");
        return (NotFound, $"{fileName}: past the end of backup {backupId}'s WAL");
    }

    /// <summary>How many segments a restore fetches ahead of PostgreSQL's requests by default.</summary>
    public const int DefaultPrefetchSegments = 8;

    /// <summary>The default spool of segments fetched ahead for a backup: a directory under the system's temp directory.</summary>
    public static string DefaultSpool(string backupId) => Path.Combine(Path.GetTempPath(), "pgvault-prefetch", backupId);

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
        Directory.CreateDirectory(spool);
        foreach (var old in Directory.EnumerateFiles(spool).Where(f => File.GetLastWriteTimeUtc(f) < DateTime.UtcNow.AddHours(-1)))
            File.Delete(old);
        var fetched = 0;
        for (var i = 1; i <= count; i++)
        {
            var name = PgVault.Postgres.WalSegment.Name(timeline, number + (ulong)i);
            var target = Path.Combine(spool, name);
            if (File.Exists(target))
                continue;
            if (!await FetchWholeAsync(store, cluster, chain, timeline, name, target, ct).ConfigureAwait(false))
                break;
            fetched++;
        }

        return fetched;
    }

    /// <summary>
    /// Keeps up to <paramref name="depth"/> whole segments after <paramref name="fileName"/> in <paramref name="spool"/>
    /// while recovery takes them (a restore_command that finds a segment there moves it away without starting PgVault).
    /// Ends at the first segment the repository does not hold whole (the chain's head, a gap or a timeline switch:
    /// <see cref="FetchAsync"/> serves those), or when nothing was taken for <paramref name="idle"/>; then removes what
    /// is left in the spool. <paramref name="alive"/> is called on every round (the caller refreshes its lock).
    /// </summary>
    public static async Task<int> PrefetchAheadAsync(IObjectStore store, string backupId, string fileName, int depth, string spool,
        TimeSpan idle, Action alive, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(alive);
        if (!PgVault.Postgres.WalSegment.TryParse(fileName, out var timeline, out var number))
            return 0;
        var (cluster, chain) = ParseBackupId(backupId);
        Directory.CreateDirectory(spool);
        var next = number + 1;
        var fetched = 0;
        var lastTaken = DateTime.UtcNow;
        var spooledBefore = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                alive();
                var spooled = Directory.EnumerateFiles(spool).Count(f => IsSegmentName(Path.GetFileName(f)));
                if (spooled < spooledBefore)
                    lastTaken = DateTime.UtcNow;
                spooledBefore = spooled;
                if (spooled >= depth)
                {
                    if (DateTime.UtcNow - lastTaken > idle)
                        break;
                    await Task.Delay(TimeSpan.FromMilliseconds(100), ct).ConfigureAwait(false);
                    continue;
                }

                var name = PgVault.Postgres.WalSegment.Name(timeline, next);
                if (!await FetchWholeAsync(store, cluster, chain, timeline, name, Path.Combine(spool, name), ct).ConfigureAwait(false))
                    break;
                next++;
                fetched++;
                spooledBefore++;
            }

            // What recovery still takes is served by wal-fetch itself; wait until it stops taking, then clean up.
            while (!ct.IsCancellationRequested && Directory.EnumerateFiles(spool).Any(f => IsSegmentName(Path.GetFileName(f)))
                   && DateTime.UtcNow - lastTaken <= idle)
            {
                alive();
                var spooled = Directory.EnumerateFiles(spool).Count(f => IsSegmentName(Path.GetFileName(f)));
                if (spooled < spooledBefore)
                    lastTaken = DateTime.UtcNow;
                spooledBefore = spooled;
                await Task.Delay(TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
            }
        }
        finally
        {
            foreach (var f in Directory.EnumerateFiles(spool).Where(f => IsSegmentName(Path.GetFileName(f)) || f.EndsWith(".pgvault-tmp", StringComparison.Ordinal)))
                File.Delete(f);
        }

        return fetched;
    }

    /// <summary>Writes one whole segment object (checked) to <paramref name="target"/>; false when the repository has none.</summary>
    private static async Task<bool> FetchWholeAsync(IObjectStore store, string cluster, string chain, uint timeline, string name, string target,
        CancellationToken ct)
    {
        await foreach (var o in store.ListAsync(RepositoryLayout.WalTimelinePrefix(cluster, chain, timeline) + name + "-", ct).ConfigureAwait(false))
        {
            if (!RepositoryLayout.TryParseWalSegmentFile(o.Key[(o.Key.LastIndexOf('/') + 1)..], out _, out var sha))
                continue;
            var verified = await store.OpenVerifiedAsync(o.Key, ZstdCodec.Default, sha, ct, PgVault.Postgres.WalSegment.DefaultSizeBytes).ConfigureAwait(false);
            await using (verified.ConfigureAwait(false))
                await WriteAtomicallyAsync(verified, target, ct).ConfigureAwait(false);
            return true;
        }

        return false;
    }

    private static async Task WriteAtomicallyAsync(Stream source, string destination, CancellationToken ct)
    {
        var temp = destination + ".pgvault-tmp";
        var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        await using (file.ConfigureAwait(false))
        {
            await source.CopyToAsync(file, ct).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
        }

        File.Move(temp, destination, overwrite: true);
    }
}

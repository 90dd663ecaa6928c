using System.Formats.Tar;
using System.Globalization;
using Microsoft.Extensions.Logging;
using PgVault.Engine.Chains;
using PgVault.Engine.Compression;
using PgVault.Errors;
using PgVault.Storage;

namespace PgVault.Engine.Restore;

/// <summary>
/// Performs a <see cref="RestorePlan"/>: streams the base backup's parts (each decompressed and checked against its
/// SHA-256) as one tar into the target directory, then writes the recovery settings and <c>recovery.signal</c>.
/// Memory stays bounded: nothing is held but the current part's buffers.
/// </summary>
public sealed class RestoreExecutor(IObjectStore store, ILogger logger)
{
    public async Task<long> RestoreAsync(RestorePlan plan, string targetDirectory, string restoreCommand, bool force,
        IProgress<long>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var dir = Path.GetFullPath(targetDirectory);
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
        {
            if (!force)
            {
                throw new PgVaultException(ErrorCode.ValidationFailed, $"target directory '{dir}' is not empty",
                    "restore into an empty directory, or pass --force to replace its contents");
            }

            foreach (var entry in Directory.EnumerateFileSystemEntries(dir))
            {
                if (Directory.Exists(entry) && !File.GetAttributes(entry).HasFlag(FileAttributes.ReparsePoint))
                    Directory.Delete(entry, recursive: true);
                else
                    File.Delete(entry);
            }
        }

        Directory.CreateDirectory(dir);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var metadata = plan.BaseBackup.Metadata!;
        var parts = new PartsStream(store, metadata.Parts, progress);
        await using (parts.ConfigureAwait(false))
        {
            var reader = new TarReader(parts, leaveOpen: true);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
                {
                    var path = Path.GetFullPath(Path.Combine(dir, entry.Name));
                    if (!path.StartsWith(dir + Path.DirectorySeparatorChar, StringComparison.Ordinal) && path != dir)
                        throw new PgVaultException(ErrorCode.ObjectCorrupt, $"base backup {plan.BaseBackup.Label} holds a path outside the data directory: '{entry.Name}'");
                    switch (entry.EntryType)
                    {
                        case TarEntryType.Directory:
                            Directory.CreateDirectory(path);
                            break;
                        case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                            await WriteFileAsync(entry, path, ct).ConfigureAwait(false);
                            break;
                        case TarEntryType.SymbolicLink:
                            File.CreateSymbolicLink(path, entry.LinkName);
                            break;
                        default:
                            logger.LogWarning("restore: skipping tar entry '{Name}' of type {Type}", entry.Name, entry.EntryType);
                            break;
                    }
                }
            }

            // Read to the end: the last part is verified (SHA-256, size) only when its end is reached.
            await parts.CopyToAsync(Stream.Null, ct).ConfigureAwait(false);
        }

        Directory.CreateDirectory(Path.Combine(dir, "pg_wal", "archive_status"));
        // Recovery settings of an earlier restore (a base backup of a cluster that was itself restored) must not apply.
        var autoConf = Path.Combine(dir, "postgresql.auto.conf");
        var lines = File.Exists(autoConf)
            ? (await File.ReadAllLinesAsync(autoConf, ct).ConfigureAwait(false)).Where(l => !IsRecoverySetting(l)).ToList()
            : [];
        lines.Add(RestoreMarker);
        lines.Add($"restore_command = '{Escape(restoreCommand)}'");
        lines.AddRange(plan.RecoverySettings.Select(kv => $"{kv.Key} = '{Escape(kv.Value)}'"));
        await File.WriteAllLinesAsync(autoConf, lines, ct).ConfigureAwait(false);
        await File.WriteAllTextAsync(Path.Combine(dir, "recovery.signal"), "", ct).ConfigureAwait(false);
        return parts.BytesRead;
    }

    /// <summary>Copies an entry's data (streamed from the archive) to a new file with the entry's permissions.</summary>
    private static async Task WriteFileAsync(TarEntry entry, string path, CancellationToken ct)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Options = FileOptions.Asynchronous };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = entry.Mode & (UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        var file = new FileStream(path, options);
        await using (file.ConfigureAwait(false))
        {
            if (entry.DataStream is { } data)
                await data.CopyToAsync(file, 1 << 20, ct).ConfigureAwait(false);
        }
    }

    private const string RestoreMarker = "# written by pgvault restore";

    /// <summary>A line of postgresql.auto.conf that a restore writes (restore_command, recovery_target*, or its marker).</summary>
    private static bool IsRecoverySetting(string line)
    {
        var trimmed = line.Trim();
        if (trimmed == RestoreMarker)
            return true;
        var key = trimmed.Split('=', 2)[0].Trim();
        return key is "restore_command" || key.StartsWith("recovery_target", StringComparison.Ordinal);
    }

    private static string Escape(string value) => value.Replace("'", "''", StringComparison.Ordinal);

    /// <summary>The base backup's parts as one stream, each decompressed and verified as it is read.</summary>
    private sealed class PartsStream(IObjectStore store, IReadOnlyList<BaseBackupPart> parts, IProgress<long>? progress) : Stream
    {
        private int _next;
        private Stream? _current;

        public long BytesRead { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => BytesRead;
            set => throw new NotSupportedException();
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.IsEmpty)
                return 0; // a zero-length read is not the end of a part
            while (true)
            {
                if (_current is null)
                {
                    if (_next >= parts.Count)
                        return 0;
                    var part = parts[_next++];
                    _current = await store.OpenVerifiedAsync(part.Key, ZstdCodec.Default, part.Sha256, cancellationToken, part.SizeBytes)
                        .ConfigureAwait(false);
                }

                var n = await _current.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (n > 0)
                {
                    BytesRead += n;
                    progress?.Report(BytesRead);
                    return n;
                }

                await _current.DisposeAsync().ConfigureAwait(false);
                _current = null;
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) =>
            throw new NotSupportedException("read the base backup asynchronously");

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask DisposeAsync()
        {
            if (_current is not null)
                await _current.DisposeAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }
}

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
    public static async Task<(int Code, string Message)> FetchAsync(IObjectStore store, string backupId, string fileName, string destination,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var (cluster, chain) = ParseBackupId(backupId);
        if (fileName.EndsWith(".history", StringComparison.Ordinal) && fileName.Length == 16
            && uint.TryParse(fileName.AsSpan(0, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var historyTimeline))
        {
            var key = RepositoryLayout.History(cluster, chain, historyTimeline);
            if (await store.StatAsync(key, ct).ConfigureAwait(false) is null)
                return (NotFound, $"{fileName}: not in backup {backupId}");
            var source = await store.OpenReadAsync(key, ReadRange.All, ct).ConfigureAwait(false);
            await using (source.ConfigureAwait(false))
                await WriteAtomicallyAsync(source, destination, padTo: null, ct).ConfigureAwait(false);
            return (0, $"{fileName}: restored");
        }

        if (!Postgres.WalSegment.TryParse(fileName, out var timeline, out var number))
            return (NotFound, $"{fileName}: not a WAL file PgVault stores");

        await foreach (var o in store.ListAsync(RepositoryLayout.WalTimelinePrefix(cluster, chain, timeline) + fileName + "-", ct).ConfigureAwait(false))
        {
            if (!RepositoryLayout.TryParseWalSegmentFile(o.Key[(o.Key.LastIndexOf('/') + 1)..], out _, out var sha))
                continue;
            var verified = await store.OpenVerifiedAsync(o.Key, ZstdCodec.Default, sha, ct, Postgres.WalSegment.DefaultSizeBytes).ConfigureAwait(false);
            await using (verified.ConfigureAwait(false))
                await WriteAtomicallyAsync(verified, destination, padTo: null, ct).ConfigureAwait(false);
            return (0, $"{fileName}: restored");
        }

        // The chain's last segment is stored as pieces: the contiguous ones from its start, the rest zeros (end of WAL).
        if (await Wal.StoredSegment.ReadAsync(store, cluster, chain, timeline, number, ct).ConfigureAwait(false) is { } partial)
        {
            using var source = new MemoryStream(partial.Data, writable: false);
            await WriteAtomicallyAsync(source, destination, padTo: null, ct).ConfigureAwait(false);
            return (0, $"{fileName}: restored (partial: {partial.Covered} bytes, the end of the backup's WAL)");
        }

        // Missing: fatal inside the chain's WAL, normal past its end (PostgreSQL asks for the next segment to find the end).
        var scanned = (await RepositoryScanner.ScanAsync(store, cluster, ct).ConfigureAwait(false)).FirstOrDefault(c => c.ChainId == chain);
        if (scanned is not null && scanned.Wal.Any(w => w.Segment > number && w.Timeline >= timeline))
            return (Fatal, $"{fileName}: missing from backup {backupId} although its WAL continues past it; recovery must not stop early here");
        return (NotFound, $"{fileName}: past the end of backup {backupId}'s WAL");
    }

    private static async Task WriteAtomicallyAsync(Stream source, string destination, long? padTo, CancellationToken ct)
    {
        var temp = destination + ".pgvault-tmp";
        var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        await using (file.ConfigureAwait(false))
        {
            await source.CopyToAsync(file, ct).ConfigureAwait(false);
            if (padTo is { } size && file.Length < size)
                file.SetLength(size);
            file.Flush(flushToDisk: true);
        }

        File.Move(temp, destination, overwrite: true);
    }
}

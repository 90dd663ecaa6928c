using System.Buffers;
using System.Formats.Tar;
using System.Threading.Channels;
using System.Globalization;
using Microsoft.Extensions.Logging;
using PgVault.Engine.BaseBackup;
using PgVault.Engine.Chains;
using PgVault.Engine.Compression;
using PgVault.Engine.Storage;
using PgVault.Engine.Repository;
using PgVault.Errors;
using PgVault.Storage;
using PgVault.Text;

namespace PgVault.Engine.Restore;

/// <summary>
/// Performs a <see cref="RestorePlan"/>: streams the base backup's parts (each decompressed and checked against its
/// SHA-256) as one tar into the target directory, then writes the recovery settings and <c>recovery.signal</c>.
/// Memory stays bounded: a few 1 MiB chunks per part being fetched (see PartsStream), and one 1 MiB write buffer.
/// Files are written with direct I/O where the filesystem allows it (<see cref="RestoredFileWriter"/>), unless
/// <paramref name="directIo"/> is false.
/// </summary>
/// <remarks>
/// A repository is data from outside (a shared directory, a bucket): a base backup's tar may be crafted. Every entry must
/// stay inside the target directory, symbolic links are created only where PostgreSQL has them (<c>pg_tblspc/&lt;oid&gt;</c>)
/// and only to one of <paramref name="tablespaceLocations"/> (none by default: PgVault backs up no tablespace outside
/// the data directory), nothing is written below a link, and files are created exclusively (never through a link).
/// </remarks>
public sealed class RestoreExecutor(IObjectStore store, ILogger logger, int parallelParts = 2, bool directIo = true,
    IReadOnlySet<string>? tablespaceLocations = null)
{
    /// <remarks>With <c>makeDurable</c> (the default) the directory is synced before this returns (<see cref="MakeDurable"/>);
    /// false only for a caller that changes the files afterwards (their owners) and syncs them itself before it reports
    /// them restored.</remarks>
    public async Task<long> RestoreAsync(RestorePlan plan, string targetDirectory, string restoreCommand, bool force,
        IProgress<long>? progress, CancellationToken ct, bool makeDurable = true)
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

        var layers = plan.Layers;
        if (layers[0].Metadata!.References is { Count: > 0 })
            throw new PgVaultException(ErrorCode.ObjectCorrupt, $"base backup {layers[0].Label} is incremental but first in the restore of {plan.BaseBackup.Label}");
        var writer = new RestoredFileWriter(logger, directIo);
        long bytesRead = await ExtractTarAsync(layers[0], dir, writer, progress, 0, ct).ConfigureAwait(false);
        foreach (var layer in layers.Skip(1))
        {
            bytesRead = await ApplyDeltaAsync(layer, dir, writer, progress, bytesRead, ct).ConfigureAwait(false);
            logger.LogInformation("restore: applied {Type} base backup {Label}", layer.Metadata!.Type, layer.Label);
        }

        var metadata = plan.BaseBackup.Metadata!;
        if (layers.Count > 1)
            await CheckBlocksAsync(plan.BaseBackup, dir, ct).ConfigureAwait(false);

        // A base backup the server compressed has its manifest beside the tar, not in it: pg_verifybackup looks for it here.
        var manifestPath = Path.Combine(dir, "backup_manifest");
        if (!File.Exists(manifestPath))
        {
            var manifest = await metadata.Manifest.OpenVerifiedAsync(store, ct).ConfigureAwait(false);
            await using (manifest.ConfigureAwait(false))
            {
                var file = new FileStream(manifestPath, System.IO.FileMode.CreateNew, FileAccess.Write);
                await using (file.ConfigureAwait(false))
                    await manifest.CopyToAsync(file, ct).ConfigureAwait(false);
            }
        }

        Directory.CreateDirectory(Path.Combine(dir, "pg_wal", "archive_status"));
        // Recovery settings of an earlier restore (a base backup of a cluster that was itself restored) must not apply.
        var autoConf = Path.Combine(dir, "postgresql.auto.conf");
        var lines = PrivateFiles.LStat(autoConf) is { IsRegularFile: true }
            ? (await File.ReadAllLinesAsync(autoConf, ct).ConfigureAwait(false)).Where(l => !IsRecoverySetting(l)).ToList()
            : [];
        lines.Add(RestoreMarker);
        lines.Add($"restore_command = {SafeText.ConfigValue(restoreCommand, "restore_command")}");
        lines.AddRange(plan.RecoverySettings.Select(kv => $"{kv.Key} = {SafeText.ConfigValue(kv.Value, kv.Key)}"));
        if (SyncfsAtStartup(dir) && !lines.Any(l => l.Trim().StartsWith(SyncMethodSetting, StringComparison.Ordinal)))
        {
            // The server starting on a restored directory (backup_label: "interrupted") first syncs the whole directory,
            // by default one fsync per file: seconds on a large one, before recovery even starts. This restore syncs its
            // filesystem before it returns (MakeDurable), so PostgreSQL's own pass finds nothing left to write: syncfs
            // makes that pass one call per filesystem. Kept afterwards (a valid setting for later crash recoveries).
            lines.Add($"{SyncMethodSetting} = 'syncfs'");
        }

        await File.WriteAllLinesAsync(autoConf, lines, ct).ConfigureAwait(false);
        await File.WriteAllTextAsync(Path.Combine(dir, "recovery.signal"), "", ct).ConfigureAwait(false);
        if (makeDurable)
            MakeDurable(dir, logger);
        return bytesRead;
    }

    /// <summary>Extracts a full base backup's tar into <paramref name="dir"/>; returns the bytes read so far.</summary>
    private async Task<long> ExtractTarAsync(ScannedBaseBackup baseBackup, string dir, RestoredFileWriter writer, IProgress<long>? progress,
        long before, CancellationToken ct)
    {
        var parts = new PartsStream(store, baseBackup.Metadata!.Parts, Offset(progress, before), parallelParts);
        await using (parts.ConfigureAwait(false))
        {
            var reader = new TarReader(parts, leaveOpen: true);
            await using (reader.ConfigureAwait(false))
            {
                var safe = new SafePaths(dir, tablespaceLocations, baseBackup.Label);
                while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
                {
                    var path = safe.Resolve(entry.Name);
                    switch (entry.EntryType)
                    {
                        case TarEntryType.Directory:
                            safe.CreateDirectory(path);
                            break;
                        case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                            safe.CreateDirectory(Path.GetDirectoryName(path)!);
                            // Created exclusively: an existing file or a link at this path is an error, never written through.
                            await writer.WriteAsync(path, entry.DataStream, FileMode(entry), ct).ConfigureAwait(false);
                            break;
                        case TarEntryType.SymbolicLink:
                            safe.CreateSymbolicLink(path, entry.Name, entry.LinkName);
                            break;
                        default:
                            logger.LogWarning("restore: skipping tar entry '{Name}' of type {Type}", entry.Name, entry.EntryType);
                            break;
                    }
                }
            }

            // Read to the end: the last part is verified (SHA-256, size) only when its end is reached.
            await parts.CopyToAsync(Stream.Null, ct).ConfigureAwait(false);
            return before + parts.BytesRead;
        }
    }

    /// <summary>
    /// Applies an incremental base backup (a <see cref="DeltaStream"/>) over the files of the one it refers to, restored
    /// in <paramref name="dir"/>: whole files replace, changed blocks are written in place (the file cut or extended to
    /// its new size first), and every entry the stream does not name is deleted, so the directory then holds exactly what
    /// a full base backup taken at the same moment would.
    /// </summary>
    private async Task<long> ApplyDeltaAsync(ScannedBaseBackup baseBackup, string dir, RestoredFileWriter writer, IProgress<long>? progress,
        long before, CancellationToken ct)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal) { dir };
        var parts = new PartsStream(store, baseBackup.Metadata!.Parts, Offset(progress, before), parallelParts);
        await using (parts.ConfigureAwait(false))
        {
            var reader = new DeltaStreamReader(parts, baseBackup.Label);
            var safe = new SafePaths(dir, tablespaceLocations, baseBackup.Label);
            var block = new byte[BlockMap.BlockBytes];
            while (await reader.NextAsync(ct).ConfigureAwait(false) is { } record)
            {
                var path = safe.Resolve(record.Path);
                for (var p = path; p.Length > dir.Length && seen.Add(p);)
                    p = Path.GetDirectoryName(p)!;
                var existing = PrivateFiles.LStat(path);
                switch (record)
                {
                    case DeltaRecord.Directory:
                        if (existing is { IsDirectory: false })
                            File.Delete(path);
                        safe.CreateDirectory(path);
                        break;
                    case DeltaRecord.Link link:
                        if (existing is { IsLink: true } && string.Equals(new FileInfo(path).LinkTarget, link.Target, StringComparison.Ordinal))
                            break;
                        Remove(path, existing);
                        safe.CreateSymbolicLink(path, record.Path, link.Target);
                        break;
                    case DeltaRecord.WholeFile file:
                        Remove(path, existing);
                        safe.CreateDirectory(Path.GetDirectoryName(path)!);
                        await writer.WriteAsync(path, new BoundedReadStream(reader.Data, file.Size), file.Mode & ModeMask, ct).ConfigureAwait(false);
                        break;
                    case DeltaRecord.ChangedFile changed:
                        if (existing is not { IsRegularFile: true })
                        {
                            throw new PgVaultException(ErrorCode.ObjectCorrupt,
                                $"incremental base backup {baseBackup.Label} changes '{record.Path}', which its reference does not hold as a file",
                                "verify the repository with 'pgvault verify'");
                        }

                        using (var handle = File.OpenHandle(path, System.IO.FileMode.Open, FileAccess.ReadWrite))
                        {
                            RandomAccess.SetLength(handle, changed.Size);
                            // No fsync per file: MakeDurable's one syncfs at the end of the restore covers every layer's writes.
                            while (await reader.NextBlockAsync(block, ct).ConfigureAwait(false) is var (number, length))
                                await RandomAccess.WriteAsync(handle, block.AsMemory(0, length), number * BlockMap.BlockBytes, ct).ConfigureAwait(false);
                        }

                        if (!OperatingSystem.IsWindows())
                            File.SetUnixFileMode(path, changed.Mode & ModeMask);
                        break;
                }
            }

            await parts.CopyToAsync(Stream.Null, ct).ConfigureAwait(false);
            DeleteUnnamed(dir, seen);
            return before + parts.BytesRead;
        }
    }

    private const UnixFileMode ModeMask =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;

    /// <summary>Removes what is at <paramref name="path"/> (a link itself, never its target).</summary>
    private static void Remove(string path, PrivateFiles.Status? existing)
    {
        if (existing is null)
            return;
        if (existing.IsDirectory && !existing.IsLink)
            Directory.Delete(path, recursive: true);
        else
            File.Delete(path);
    }

    /// <summary>Deletes every entry below <paramref name="dir"/> not in <paramref name="seen"/> (links are not followed).</summary>
    private static void DeleteUnnamed(string dir, HashSet<string> seen)
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries(dir))
        {
            var status = PrivateFiles.LStat(entry);
            if (!seen.Contains(entry))
                Remove(entry, status);
            else if (status is { IsDirectory: true, IsLink: false })
                DeleteUnnamed(entry, seen);
        }
    }

    /// <summary>
    /// Checks every block of the restored files against the block map of the base backup restored (XxHash128 per
    /// 8 KiB): the composition of the full base backup and the incremental ones must give exactly its bytes.
    /// </summary>
    private async Task CheckBlocksAsync(ScannedBaseBackup baseBackup, string dir, CancellationToken ct)
    {
        const int ChunkBlocks = 128;
        var metadata = baseBackup.Metadata!;
        if (metadata.BlockMap is null)
            throw new PgVaultException(ErrorCode.ObjectCorrupt, $"incremental base backup {baseBackup.Label} has no block map");
        var work = Path.Combine(Path.GetTempPath(), $"pgvault-restore-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try
        {
            using var map = await DownloadAsync(metadata.BlockMap, Path.Combine(work, "blockmap"), ct).ConfigureAwait(false);
            long blocks = 0;
            await Parallel.ForEachAsync(map.Paths, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallelParts), CancellationToken = ct },
                async (relative, token) =>
                {
                    var expected = map.ReadHashes(relative)!;
                    var size = map.SizeOf(relative)!.Value;
                    var path = Path.Combine(dir, relative);
                    // Read 1 MiB at a time (the files were written with direct I/O: these reads go to the disk).
                    var buffer = new byte[ChunkBlocks * BlockMap.BlockBytes];
                    var hash = new byte[BlockMap.HashBytes];
                    using var handle = File.OpenHandle(path, System.IO.FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
                    if (RandomAccess.GetLength(handle) != size)
                        throw Mismatch(baseBackup.Label, relative, $"size {RandomAccess.GetLength(handle)}, not {size}");
                    for (long first = 0; first * BlockMap.BlockBytes < size; first += ChunkBlocks)
                    {
                        var want = (int)Math.Min(buffer.Length, size - (first * BlockMap.BlockBytes));
                        var read = 0;
                        while (read < want)
                        {
                            var n = await RandomAccess.ReadAsync(handle, buffer.AsMemory(read, want - read), (first * BlockMap.BlockBytes) + read, token)
                                .ConfigureAwait(false);
                            if (n == 0)
                                throw Mismatch(baseBackup.Label, relative, $"block {first + (read / BlockMap.BlockBytes)} ends early");
                            read += n;
                        }

                        for (var offset = 0; offset < want; offset += BlockMap.BlockBytes)
                        {
                            var b = first + (offset / BlockMap.BlockBytes);
                            BlockMap.Hash(buffer.AsSpan(offset, Math.Min(BlockMap.BlockBytes, want - offset)), hash);
                            if (!hash.AsSpan().SequenceEqual(expected.AsSpan((int)(b * BlockMap.HashBytes), BlockMap.HashBytes)))
                                throw Mismatch(baseBackup.Label, relative, $"block {b} differs from the block map");
                        }
                    }

                    Interlocked.Add(ref blocks, BlockMap.BlockCount(size));
                }).ConfigureAwait(false);
            logger.LogInformation("restore: {Blocks} blocks of {Files} files checked against the block map of {Label}", blocks, map.Count, baseBackup.Label);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private async Task<BlockMapFile> DownloadAsync(BaseBackupPart part, string path, CancellationToken ct)
    {
        var verified = await part.OpenVerifiedAsync(store, ct).ConfigureAwait(false);
        await using (verified.ConfigureAwait(false))
        {
            var file = new FileStream(path, System.IO.FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
            await using (file.ConfigureAwait(false))
                await verified.CopyToAsync(file, ct).ConfigureAwait(false);
        }

        return BlockMapFile.Open(path, part.Key);
    }

    private static PgVaultException Mismatch(string label, string path, string what) =>
        new(ErrorCode.ObjectCorrupt, $"restored file '{path}' of base backup {label}: {what}",
            "the repository's base backups do not compose to the data they recorded; verify it with 'pgvault verify'");

    private static IProgress<long>? Offset(IProgress<long>? progress, long before) =>
        progress is null ? null : new OffsetProgress(progress, before);

    private sealed class OffsetProgress(IProgress<long> inner, long before) : IProgress<long>
    {
        public void Report(long value) => inner.Report(before + value);
    }

    /// <summary>
    /// Makes a restored directory durable before the restore says it is done: direct I/O skips the page cache but not
    /// the device's cache, nor file sizes and directory entries. One <c>syncfs</c> of its filesystem (batched: the
    /// kernel writes back everything at once, where an <c>fsync</c> per file would wait for each), and an <c>fsync</c> of
    /// its parent for the directory's own entry (which may be on another filesystem). Logged with its duration, which
    /// the restore's time includes. Call it again after changing the files' owners.
    /// </summary>
    public static void MakeDurable(string directory, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        DirectorySync.SyncFileSystem(directory);
        if (Path.GetDirectoryName(Path.GetFullPath(directory)) is { } parent)
            DirectorySync.Sync(parent);
        logger.LogInformation("restore: {Directory} is on disk (syncfs) after {SyncSeconds:0.000} s", directory,
            System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    /// <summary>The target directory's paths for tar entries: checked lexically and against the links on disk.</summary>
    private sealed class SafePaths(string dir, IReadOnlySet<string>? tablespaceLocations, string label)
    {
        private readonly HashSet<string> _realDirectories = new(StringComparer.Ordinal) { dir };

        public string Resolve(string name)
        {
            var path = Path.GetFullPath(Path.Combine(dir, name));
            if (!path.StartsWith(dir + Path.DirectorySeparatorChar, StringComparison.Ordinal) && path != dir)
                throw Corrupt($"a path outside the data directory: '{name}'");
            return path;
        }

        /// <summary>Creates the directory and its parents below the target, each checked to be a real directory (never a link).</summary>
        public void CreateDirectory(string path)
        {
            if (_realDirectories.Contains(path))
                return;
            var parent = Path.GetDirectoryName(path)!;
            if (path != dir)
                CreateDirectory(parent);
            switch (PrivateFiles.LStat(path))
            {
                case null:
                    Directory.CreateDirectory(path);
                    break;
                case { IsLink: true }:
                    throw Corrupt($"an entry below the symbolic link '{Path.GetRelativePath(dir, path)}': nothing is written through a link");
                case { IsDirectory: false }:
                    throw Corrupt($"'{Path.GetRelativePath(dir, path)}' both as a file and as a directory");
            }

            _realDirectories.Add(path);
        }

        public void CreateSymbolicLink(string path, string name, string target)
        {
            var relative = Path.GetRelativePath(dir, path).Replace(Path.DirectorySeparatorChar, '/');
            var parts = relative.Split('/');
            if (parts is not ["pg_tblspc", var oid] || oid.Length == 0 || !oid.All(char.IsAsciiDigit))
                throw Corrupt($"a symbolic link where PostgreSQL has none: '{name}' -> '{target}' (links are allowed only as pg_tblspc/<oid>)");
            if (tablespaceLocations is null || !Path.IsPathFullyQualified(target) || !tablespaceLocations.Contains(Path.GetFullPath(target)))
                throw Corrupt($"a tablespace link '{name}' to '{target}', which is not a tablespace location of this restore");
            CreateDirectory(Path.GetDirectoryName(path)!);
            File.CreateSymbolicLink(path, target); // fails when anything is there already
        }

        private PgVaultException Corrupt(string what) =>
            new(ErrorCode.ObjectCorrupt, $"base backup {label} holds {what}; nothing was written outside the data directory",
                "the repository may have been tampered with: check who can write to it");
    }

    /// <summary>A restored file's permissions: the entry's, for the owner and group only (PostgreSQL's own rule).</summary>
    private static UnixFileMode FileMode(TarEntry entry) =>
        entry.Mode & (UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);

    private const string RestoreMarker = "# written by pgvault restore";

    private const string SyncMethodSetting = "recovery_init_sync_method";

    /// <summary>Whether the server of <paramref name="dir"/> can sync its data directory at startup with syncfs (PostgreSQL 14 or later, on Linux).</summary>
    private static bool SyncfsAtStartup(string dir)
    {
        if (!OperatingSystem.IsLinux())
            return false;
        try
        {
            return int.TryParse(File.ReadAllText(Path.Combine(dir, "PG_VERSION")).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var major)
                   && major >= 14;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>A line of postgresql.auto.conf that a restore writes (restore_command, recovery_target*, or its marker).</summary>
    private static bool IsRecoverySetting(string line)
    {
        var trimmed = line.Trim();
        if (trimmed == RestoreMarker)
            return true;
        var key = trimmed.Split('=', 2)[0].Trim();
        return key is "restore_command" || key.StartsWith("recovery_target", StringComparison.Ordinal);
    }

    /// <summary>
    /// The base backup's parts as one stream, each decompressed and verified as it is read. Up to
    /// <c>parallelParts</c> parts are fetched and decompressed at once, each by its own task into a small bounded queue
    /// of 1 MiB chunks, so fetching and decompressing run beside the tar extraction and file writes that consume them.
    /// Memory: at most parallelParts × 8 chunks.
    /// </summary>
    private sealed class PartsStream(IObjectStore store, IReadOnlyList<BaseBackupPart> parts, IProgress<long>? progress, int parallelParts) : Stream
    {
        private const int ChunkBytes = 1 << 20;
        private const int ChunksPerPart = 8;
        private readonly Queue<PartReader> _readers = new();
        private readonly CancellationTokenSource _stop = new();
        private int _nextToStart;
        private byte[]? _chunk;
        private int _chunkLength;
        private int _chunkPosition;

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

        private sealed record PartReader(Channel<(byte[] Buffer, int Length)> Chunks, Task Done);

        private void StartMore()
        {
            while (_readers.Count < Math.Max(1, parallelParts) && _nextToStart < parts.Count)
            {
                var part = parts[_nextToStart++];
                var chunks = Channel.CreateBounded<(byte[] Buffer, int Length)>(new BoundedChannelOptions(ChunksPerPart)
                {
                    SingleReader = true,
                    SingleWriter = true,
                });
                _readers.Enqueue(new PartReader(chunks, Task.Run(() => FetchAsync(part, chunks.Writer, _stop.Token))));
            }
        }

        private async Task FetchAsync(BaseBackupPart part, ChannelWriter<(byte[] Buffer, int Length)> writer, CancellationToken ct)
        {
            Exception? failure = null;
            try
            {
                var verified = await part.OpenVerifiedAsync(store, ct).ConfigureAwait(false);
                await using (verified.ConfigureAwait(false))
                {
                    while (true)
                    {
                        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
                        var n = await verified.ReadAtLeastAsync(buffer.AsMemory(0, ChunkBytes), ChunkBytes, throwOnEndOfStream: false, ct)
                            .ConfigureAwait(false);
                        if (n == 0)
                        {
                            ArrayPool<byte>.Shared.Return(buffer);
                            break; // the end: the stream has checked size and SHA-256
                        }

                        await writer.WriteAsync((buffer, n), ct).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception ex)
            {
                failure = ex;
            }
            finally
            {
                writer.TryComplete(failure);
            }
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.IsEmpty)
                return 0; // a zero-length read is not the end of a part
            while (true)
            {
                if (_chunk is not null)
                {
                    var n = Math.Min(buffer.Length, _chunkLength - _chunkPosition);
                    _chunk.AsMemory(_chunkPosition, n).CopyTo(buffer);
                    _chunkPosition += n;
                    if (_chunkPosition == _chunkLength)
                    {
                        ArrayPool<byte>.Shared.Return(_chunk);
                        _chunk = null;
                    }

                    BytesRead += n;
                    progress?.Report(BytesRead);
                    return n;
                }

                StartMore();
                if (_readers.Count == 0)
                    return 0;
                var reader = _readers.Peek();
                if (reader.Chunks.Reader.TryRead(out var item))
                {
                    (_chunk, _chunkLength, _chunkPosition) = (item.Buffer, item.Length, 0);
                    continue;
                }

                // Throws the part's failure (corrupt, missing, unreadable) when its fetch failed.
                if (!await reader.Chunks.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    await reader.Done.ConfigureAwait(false);
                    _readers.Dequeue();
                }
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
            await _stop.CancelAsync().ConfigureAwait(false);
            while (_readers.TryDequeue(out var reader))
            {
                while (reader.Chunks.Reader.TryRead(out var item))
                    ArrayPool<byte>.Shared.Return(item.Buffer);
                try
                {
#pragma warning disable VSTHRD003 // the fetch tasks are this stream's own, started by StartMore
                    await reader.Done.ConfigureAwait(false);
#pragma warning restore VSTHRD003
                }
                catch (Exception ex) when (ex is OperationCanceledException or PgVaultException or IOException or InvalidDataException)
                {
                    // stopped early: the restore has already failed or finished
                }

                while (reader.Chunks.Reader.TryRead(out var item))
                    ArrayPool<byte>.Shared.Return(item.Buffer);
            }

            if (_chunk is not null)
                ArrayPool<byte>.Shared.Return(_chunk);
            _chunk = null;
            _stop.Dispose();
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }
}

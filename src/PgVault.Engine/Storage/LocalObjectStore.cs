using System.Runtime.CompilerServices;
using PgVault.Storage;

namespace PgVault.Engine.Storage;

/// <summary>
/// An <see cref="IObjectStore"/> in a directory of the local filesystem (or a mounted one): the key <c>a/b/c</c> is the
/// file <c>{root}/a/b/c</c>. Writes are atomic and durable as in Litestream's <c>WriteLTXFile</c> and pgBackRest's
/// posix driver: the content goes to a temporary file in the target directory, which is flushed to disk, closed and
/// renamed over the key's file, and then the directory is synced.
/// </summary>
/// <remarks>
/// <para>Temporary files are named <c>.tmp-{guid}</c>; names starting with '.' are never keys, so listings never show
/// them. A crash can leave such a file behind; it is never mistaken for an object.</para>
/// <para>Unlike S3, a filesystem cannot hold both an object <c>a</c> and an object <c>a/b</c>; PgVault's
/// <see cref="Repository.RepositoryLayout"/> never produces such pairs, and writing one fails with an <see cref="IOException"/>.</para>
/// <para>Files and directories in the tree whose names are not valid key segments (see <see cref="ObjectKeys"/>) are
/// not objects: listings skip them.</para>
/// </remarks>
public sealed class LocalObjectStore : IObjectStore
{
    /// <summary>Size of the pooled buffer a write copies through.</summary>
    internal const int CopyBufferBytes = 1024 * 1024;

    /// <summary>Prefix of the temporary files that writes rename into place.</summary>
    internal const string TempFilePrefix = ".tmp-";

    private const int CreateAttempts = 5;

    private static readonly EnumerationOptions ListOptions = new()
    {
        AttributesToSkip = FileAttributes.None,
        IgnoreInaccessible = false,
        RecurseSubdirectories = false,
        ReturnSpecialDirectories = false,
    };

    private readonly string _root;
    private readonly DirectIoWriter _writer;
    private readonly UnixFileMode _fileMode;
    private readonly UnixFileMode _directoryMode;

    /// <summary>Opens (and creates, when missing) the store rooted at <paramref name="rootDirectory"/>.</summary>
    /// <param name="rootDirectory">The directory.</param>
    /// <param name="logger">Says once when the filesystem refuses direct I/O.</param>
    /// <param name="directIo">Write objects of 1 MiB or more with direct I/O where the filesystem allows it.</param>
    /// <param name="groupAccess">Create files 0640 and directories 0750 (group may read) instead of 0600 and 0700.</param>
    public LocalObjectStore(string rootDirectory, Microsoft.Extensions.Logging.ILogger? logger = null, bool directIo = true, bool groupAccess = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(rootDirectory);
        _writer = new DirectIoWriter(logger, directIo, "repository");
        (_fileMode, _directoryMode) = PrivateFiles.Modes(groupAccess);
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(rootDirectory));
        if (!Directory.Exists(_root))
        {
            PrivateFiles.CreateDirectories(_root, _directoryMode);
            var parent = Path.GetDirectoryName(_root);
            if (parent is not null)
                DirectorySync.Sync(parent);
        }
    }

    /// <summary>The directory holding the objects (absolute).</summary>
    public string RootDirectory => _root;

    /// <inheritdoc />
    public string Kind => "filesystem";

    /// <inheritdoc />
    public ObjectStoreCapabilities Capabilities => ObjectStoreCapabilities.AtomicRename | ObjectStoreCapabilities.ConsistentList;

    /// <inheritdoc />
    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        ObjectKeys.ValidatePrefix(prefix);
        await Task.Yield();

        // The prefix's folder part names the directory to start in; the rest filters that directory's entries only.
        var slash = prefix.LastIndexOf('/');
        var startFolder = slash < 0 ? "" : prefix[..(slash + 1)];
        var namePrefix = prefix[(slash + 1)..];

        // Depth-first over directories, each directory's entries sorted so that the keys come out in ordinal order: a
        // directory sorts as its name + '/', the first character of every key below it ("a-b" < "a/x" < "a0").
        var stack = new Stack<IEnumerator<Entry>>();
        try
        {
            stack.Push(ReadDirectory(startFolder, namePrefix).GetEnumerator());
            while (stack.Count > 0)
            {
                ct.ThrowIfCancellationRequested();
                var entries = stack.Peek();
                if (!entries.MoveNext())
                {
                    stack.Pop().Dispose();
                    continue;
                }

                var entry = entries.Current;
                if (entry.IsDirectory)
                    stack.Push(ReadDirectory(entry.Key + "/", "").GetEnumerator());
                else
                    yield return new ObjectInfo(entry.Key, entry.SizeBytes, entry.LastModified);
            }
        }
        finally
        {
            while (stack.Count > 0)
                stack.Pop().Dispose();
        }
    }

    /// <inheritdoc />
    public Task<ObjectInfo?> StatAsync(string key, CancellationToken ct)
    {
        ObjectKeys.Validate(key);
        ct.ThrowIfCancellationRequested();
        var file = new FileInfo(PathOf(key));
        return Task.FromResult(file.Exists ? new ObjectInfo(key, file.Length, ToOffset(file.LastWriteTimeUtc)) : null);
    }

    /// <inheritdoc />
    public Task<Stream> OpenReadAsync(string key, ReadRange range, CancellationToken ct)
    {
        ObjectKeys.Validate(key);
        if (range.Offset < 0 || range.Length < 0)
            throw new ArgumentOutOfRangeException(nameof(range), range, "a read range has a non-negative offset and length");
        ct.ThrowIfCancellationRequested();

        var file = TryOpenRead(PathOf(key)) ?? throw new ObjectNotFoundException(key);
        try
        {
            file.Position = Math.Min(range.Offset, file.Length);
        }
        catch
        {
            file.Dispose();
            throw;
        }

        Stream stream = range.Length is { } length ? new BoundedReadStream(file, length) : file;
        return Task.FromResult(stream);
    }

    /// <inheritdoc />
    public async Task<ObjectInfo> WriteAsync(string key, Stream content, CancellationToken ct)
    {
        ObjectKeys.Validate(key);
        ArgumentNullException.ThrowIfNull(content);
        ct.ThrowIfCancellationRequested();

        var path = PathOf(key);
        var directory = Path.GetDirectoryName(path)!;
        var (temp, file) = CreateTempFile(directory);
        long sizeBytes;
        try
        {
            await using (file.ConfigureAwait(false))
            {
                // Large objects (base backup parts) skip the page cache: see DirectIoWriter.
                sizeBytes = await _writer.WriteAsync(file.SafeFileHandle, temp, content, smallBuffered: true, ct).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }

            ct.ThrowIfCancellationRequested();
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            // Whatever failed (the content stream, the disk, a cancellation), nothing of this write may stay behind.
            TryDelete(temp);
            throw;
        }

        // The rename is durable once the directory entry is: until then a crash may bring back the old object (or none).
        DirectorySync.Sync(directory);
        return new ObjectInfo(key, sizeBytes, ToOffset(File.GetLastWriteTimeUtc(path)));
    }

    /// <inheritdoc />
    public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(keys);
        foreach (var key in keys)
            ObjectKeys.Validate(key);

        var directories = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            ct.ThrowIfCancellationRequested();
            var path = PathOf(key);
            if (Directory.Exists(path))
                continue;   // a folder of keys, not an object
            try
            {
                File.Delete(path);
            }
            catch (DirectoryNotFoundException)
            {
                continue;
            }

            directories.Add(Path.GetDirectoryName(path)!);
        }

        foreach (var directory in directories)
            DirectorySync.Sync(directory);

        // Best effort: remove directories the deletes left empty, up to (not including) the root. A directory that is
        // not empty (another object, a write in progress) stays; a concurrent writer recreates what it needs.
        foreach (var directory in directories.OrderByDescending(d => d.Length))
        {
            for (var d = directory; d.Length > _root.Length && d.StartsWith(_root, StringComparison.Ordinal); d = Path.GetDirectoryName(d)!)
            {
                if (!TryRemoveEmptyDirectory(d))
                    break;
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>The file of <paramref name="key"/> (validated by the caller).</summary>
    internal string PathOf(string key) => Path.Join(_root, key);

    private IEnumerable<Entry> ReadDirectory(string folder, string namePrefix)
    {
        var directory = new DirectoryInfo(folder.Length == 0 ? _root : Path.Join(_root, folder));
        List<Entry> entries;
        try
        {
            entries = [];
            foreach (var info in directory.EnumerateFileSystemInfos("*", ListOptions))
            {
                var name = info.Name;
                if (!name.StartsWith(namePrefix, StringComparison.Ordinal) || !ObjectKeys.IsValidSegment(name))
                    continue;
                if (info is DirectoryInfo)
                {
                    entries.Add(new Entry(folder + name, folder + name + "/", IsDirectory: true, 0, default));
                    continue;
                }

                try
                {
                    var file = (FileInfo)info;
                    entries.Add(new Entry(folder + name, folder + name, IsDirectory: false, file.Length, ToOffset(file.LastWriteTimeUtc)));
                }
                catch (FileNotFoundException)
                {
                    // deleted while listing: it is not an object any more
                }
            }
        }
        catch (DirectoryNotFoundException)
        {
            // The folder does not exist (nothing has that prefix) or was removed by a concurrent delete.
            return [];
        }

        entries.Sort(static (a, b) => string.CompareOrdinal(a.SortKey, b.SortKey));
        return entries;
    }

    /// <summary>Opens a file for reading, or returns null when there is no file (a directory is not an object).</summary>
    private static FileStream? TryOpenRead(string path)
    {
        try
        {
            return new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                Share = FileShare.Read | FileShare.Delete,
                BufferSize = 0,
                Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
            });
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        catch (UnauthorizedAccessException) when (Directory.Exists(path))
        {
            return null;
        }
    }

    private (string Path, FileStream File) CreateTempFile(string directory)
    {
        for (var attempt = 1; ; attempt++)
        {
            CreateDirectories(directory);
            var temp = Path.Join(directory, TempFilePrefix + Guid.NewGuid().ToString("N"));
            try
            {
                var fileOptions = new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    Share = FileShare.None,
                    BufferSize = 0,
                    Options = FileOptions.Asynchronous,
                };
                if (!OperatingSystem.IsWindows())
                    fileOptions.UnixCreateMode = _fileMode; // 0600 (0640 with group access), whatever the umask allows
                return (temp, new FileStream(temp, fileOptions));
            }
            catch (DirectoryNotFoundException) when (attempt < CreateAttempts)
            {
                // A concurrent delete removed the (then empty) directory between its creation and ours: create it again.
            }
        }
    }

    /// <summary>Creates <paramref name="directory"/> and its missing parents, syncing each new directory's parent.</summary>
    private void CreateDirectories(string directory)
    {
        if (Directory.Exists(directory))
            return;
        var missing = new Stack<string>();
        for (var d = directory; !Directory.Exists(d); d = Path.GetDirectoryName(d)!)
            missing.Push(d);
        while (missing.TryPop(out var d))
        {
            if (OperatingSystem.IsWindows())
                Directory.CreateDirectory(d);
            else
                Directory.CreateDirectory(d, _directoryMode);
            DirectorySync.Sync(Path.GetDirectoryName(d)!);
        }
    }

    private static bool TryRemoveEmptyDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: false);
            return true;
        }
        catch (DirectoryNotFoundException)
        {
            return true;
        }
        catch (IOException)
        {
            return false;   // not empty
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // The original failure is what the caller must see; a leftover temporary file is never listed.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static DateTimeOffset ToOffset(DateTime utc) => new(DateTime.SpecifyKind(utc, DateTimeKind.Utc));

    /// <summary>A listed file or directory; <see cref="SortKey"/> is the key, with a '/' appended for a directory.</summary>
    private readonly record struct Entry(string Key, string SortKey, bool IsDirectory, long SizeBytes, DateTimeOffset LastModified);
}

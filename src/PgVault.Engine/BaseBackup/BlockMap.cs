using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using PgVault.Errors;

namespace PgVault.Engine.BaseBackup;

/// <summary>
/// A base backup's block map (<c>blockmap.zst</c>, decompressed): for every regular file of the data directory its size
/// and the XxHash128 of each 8 KiB block (the last one may be shorter), in the order the files came. An incremental base
/// backup compares each block it reads with its reference's map and stores only those whose hash differs; a restore
/// checks every block of the result against the map of the base backup it restored.
/// </summary>
/// <remarks>
/// <code>
/// "PGVBMAP1"                                   magic, 8 bytes
/// per file: u16 path length, path (UTF-8), i64 size, ceil(size / 8192) × 16 bytes of XxHash128 (big-endian)
/// </code>
/// All integers little-endian. 16 bytes per 8 KiB block: 2 GiB of map for a 1 TiB cluster, which is why a reader keeps
/// it in a local file and loads one file's hashes at a time (<see cref="BlockMapFile"/>).
/// </remarks>
public static class BlockMap
{
    /// <summary>PostgreSQL's block size (BLCKSZ): the unit compared and stored.</summary>
    public const int BlockBytes = 8192;

    /// <summary>Bytes of one block's hash.</summary>
    public const int HashBytes = 16;

    internal static ReadOnlySpan<byte> Magic => "PGVBMAP1"u8;

    /// <summary>Blocks of a file of <paramref name="size"/> bytes.</summary>
    public static long BlockCount(long size) => (size + BlockBytes - 1) / BlockBytes;

    /// <summary>Bytes of block <paramref name="block"/> of a file of <paramref name="size"/> bytes.</summary>
    public static int BlockLength(long size, long block) => (int)Math.Min(BlockBytes, size - (block * BlockBytes));

    /// <summary>Writes the XxHash128 of <paramref name="block"/> into <paramref name="hash"/>.</summary>
    public static void Hash(ReadOnlySpan<byte> block, Span<byte> hash) => XxHash128.Hash(block, hash);
}

/// <summary>Writes a block map, file by file, to a stream (a local file, compressed and stored afterwards).</summary>
public sealed class BlockMapWriter : IDisposable
{
    private readonly Stream _output;
    private long _remainingBlocks;

    public BlockMapWriter(Stream output)
    {
        _output = output;
        _output.Write(BlockMap.Magic);
    }

    /// <summary>Files recorded.</summary>
    public long Files { get; private set; }

    /// <summary>Starts a file of <paramref name="size"/> bytes: its block hashes follow with <see cref="AddBlockHash"/>.</summary>
    public void BeginFile(string path, long size)
    {
        if (_remainingBlocks != 0)
            throw new InvalidOperationException($"the block map's previous file lacks {_remainingBlocks} block hashes");
        var name = Encoding.UTF8.GetBytes(path);
        if (name.Length > ushort.MaxValue)
            throw new PgVaultException(ErrorCode.BaseBackupFailed, $"path too long for the block map: '{path[..100]}…'");
        Span<byte> head = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(head, (ushort)name.Length);
        _output.Write(head);
        _output.Write(name);
        Span<byte> sizeBytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(sizeBytes, size);
        _output.Write(sizeBytes);
        _remainingBlocks = BlockMap.BlockCount(size);
        Files++;
    }

    public void AddBlockHash(ReadOnlySpan<byte> hash)
    {
        if (_remainingBlocks-- <= 0)
            throw new InvalidOperationException("more block hashes than the file has blocks");
        _output.Write(hash);
    }

    /// <summary>Checks that the last file got all its hashes and flushes.</summary>
    public void Finish()
    {
        if (_remainingBlocks != 0)
            throw new InvalidOperationException($"the block map's last file lacks {_remainingBlocks} block hashes");
        _output.Flush();
    }

    public void Dispose() => _output.Dispose();
}

/// <summary>
/// A block map in a local file, indexed by path (paths and offsets in memory, hashes on disk): one file's hashes are
/// read when that file is compared or checked, so memory stays bounded for any cluster size.
/// </summary>
public sealed class BlockMapFile : IDisposable
{
    private readonly FileStream _file;
    private readonly Dictionary<string, (long Offset, long Size)> _index;

    private BlockMapFile(FileStream file, Dictionary<string, (long Offset, long Size)> index)
    {
        _file = file;
        _index = index;
    }

    /// <summary>Files in the map.</summary>
    public int Count => _index.Count;

    /// <summary>The paths in the map.</summary>
    public IEnumerable<string> Paths => _index.Keys;

    /// <summary>Opens and indexes the map in <paramref name="path"/> (which <paramref name="name"/> names in errors).</summary>
    public static BlockMapFile Open(string path, string name)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            var index = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
            Span<byte> magic = stackalloc byte[8];
            if (file.ReadAtLeast(magic, 8, throwOnEndOfStream: false) != 8 || !magic.SequenceEqual(BlockMap.Magic))
                throw Corrupt(name, "no block map header");
            Span<byte> head = stackalloc byte[2];
            Span<byte> size = stackalloc byte[8];
            var pathBuffer = new byte[ushort.MaxValue];
            while (true)
            {
                var n = file.ReadAtLeast(head, 2, throwOnEndOfStream: false);
                if (n == 0)
                    break;
                if (n != 2)
                    throw Corrupt(name, "a truncated entry");
                var length = BinaryPrimitives.ReadUInt16LittleEndian(head);
                if (file.ReadAtLeast(pathBuffer.AsSpan(0, length), length, throwOnEndOfStream: false) != length
                    || file.ReadAtLeast(size, 8, throwOnEndOfStream: false) != 8)
                    throw Corrupt(name, "a truncated entry");
                var fileSize = BinaryPrimitives.ReadInt64LittleEndian(size);
                if (fileSize < 0)
                    throw Corrupt(name, "a negative file size");
                var filePath = Encoding.UTF8.GetString(pathBuffer, 0, length);
                var hashes = BlockMap.BlockCount(fileSize) * BlockMap.HashBytes;
                if (file.Position + hashes > file.Length)
                    throw Corrupt(name, $"a truncated entry for '{filePath}'");
                index[filePath] = (file.Position, fileSize);
                file.Seek(hashes, SeekOrigin.Current);
            }

            return new BlockMapFile(file, index);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The size recorded for <paramref name="path"/>, or null when the map has no such file.</summary>
    public long? SizeOf(string path) => _index.TryGetValue(path, out var e) ? e.Size : null;

    /// <summary>The block hashes of <paramref name="path"/> (16 bytes each), or null when the map has no such file.</summary>
    public byte[]? ReadHashes(string path)
    {
        if (!_index.TryGetValue(path, out var e))
            return null;
        var hashes = new byte[BlockMap.BlockCount(e.Size) * BlockMap.HashBytes];
        var done = 0;
        while (done < hashes.Length)
        {
            var n = RandomAccess.Read(_file.SafeFileHandle, hashes.AsSpan(done), e.Offset + done);
            if (n == 0)
                throw Corrupt(_file.Name, $"the hashes of '{path}' end early");
            done += n;
        }

        return hashes;
    }

    public void Dispose() => _file.Dispose();

    private static PgVaultException Corrupt(string name, string what) =>
        new(ErrorCode.ObjectCorrupt, $"block map '{name}' is corrupt: {what}");
}

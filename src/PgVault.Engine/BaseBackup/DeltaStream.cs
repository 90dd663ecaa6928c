using System.Buffers;
using System.Buffers.Binary;
using System.Formats.Tar;
using System.Text;
using PgVault.Errors;

namespace PgVault.Engine.BaseBackup;

/// <summary>
/// The content of an incremental base backup's parts (<c>delta.{part}.zst</c>, concatenated and decompressed): every
/// entry of the data directory's tar in the order it came, files whole or as the blocks that changed since the
/// reference base backup. Applied over the reference's restored files it gives exactly the bytes a full base backup
/// taken at the same moment would have held.
/// </summary>
/// <remarks>
/// <code>
/// "PGVDELTA" u32 version (1)
/// records, each a type byte:
///   'D' str path, u32 mode                          a directory
///   'L' str path, str target                        a symbolic link
///   'F' str path, u32 mode, i64 size, size bytes     a file, whole
///   'B' str path, u32 mode, i64 size,                a file changed block-wise: cut (or extended) to size, then
///       { u32 block, the block's bytes }*, u32 ~0     these 8 KiB blocks (the last one of the file may be shorter)
///   'E'                                             the end: a stream without it is truncated
/// str = u16 length + UTF-8; integers little-endian
/// </code>
/// Every entry of the tar appears (unchanged files as a 'B' record with no blocks), so an entry missing is one that
/// no longer exists: the restore deletes what the stream does not name.
/// </remarks>
public static class DeltaStream
{
    internal static ReadOnlySpan<byte> Magic => "PGVDELTA"u8;

    public const uint Version = 1;

    internal const uint EndOfBlocks = uint.MaxValue;

    /// <summary>Top-level members the server adds to a base backup; always stored whole.</summary>
    internal static bool AlwaysWhole(string name) => name is "backup_label" or "backup_manifest" or "tablespace_map";
}

/// <summary>Figures of one incremental base backup's comparison.</summary>
public sealed record DeltaStatistics(long Files, long FilesWhole, long BlocksRead, long BlocksChanged, long BytesRead);

/// <summary>
/// Turns a base backup's tar into a <see cref="DeltaStream"/> against a reference block map, and records the new block
/// map (of every file, changed or not) on the way. Reads 1 MiB of a file at a time: memory stays bounded.
/// </summary>
public sealed class DeltaStreamWriter(BlockMapFile reference, BlockMapWriter map)
{
    private const int ChunkBlocks = 128;

    public async Task<DeltaStatistics> WriteAsync(Stream tar, Stream output, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(tar);
        ArgumentNullException.ThrowIfNull(output);
        long files = 0, whole = 0, blocksRead = 0, blocksChanged = 0, bytesRead = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBlocks * BlockMap.BlockBytes);
        var hash = new byte[BlockMap.HashBytes];
        try
        {
            var head = new byte[12];
            DeltaStream.Magic.CopyTo(head);
            BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(8), DeltaStream.Version);
            await output.WriteAsync(head, ct).ConfigureAwait(false);
            var reader = new TarReader(tar, leaveOpen: true);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
                {
                    var name = entry.Name;
                    switch (entry.EntryType)
                    {
                        case TarEntryType.Directory:
                            await WriteRecordAsync(output, w => { w.WriteByte((byte)'D'); WriteString(w, name); WriteU32(w, (uint)entry.Mode); }, ct)
                                .ConfigureAwait(false);
                            break;
                        case TarEntryType.SymbolicLink:
                            await WriteRecordAsync(output, w => { w.WriteByte((byte)'L'); WriteString(w, name); WriteString(w, entry.LinkName); }, ct)
                                .ConfigureAwait(false);
                            break;
                        case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                        {
                            files++;
                            var size = entry.Length;
                            var data = entry.DataStream ?? Stream.Null;
                            map.BeginFile(name, size);
                            var refHashes = DeltaStream.AlwaysWhole(name) || size < BlockMap.BlockBytes ? null : reference.ReadHashes(name);
                            var refSize = refHashes is null ? 0 : reference.SizeOf(name)!.Value;
                            await WriteRecordAsync(output, w =>
                            {
                                w.WriteByte(refHashes is null ? (byte)'F' : (byte)'B');
                                WriteString(w, name);
                                WriteU32(w, (uint)entry.Mode);
                                WriteI64(w, size);
                            }, ct).ConfigureAwait(false);
                            if (refHashes is null)
                                whole++;
                            long block = 0;
                            var remaining = size;
                            while (remaining > 0)
                            {
                                var want = (int)Math.Min(remaining, buffer.Length);
                                await data.ReadExactlyAsync(buffer.AsMemory(0, want), ct).ConfigureAwait(false);
                                remaining -= want;
                                bytesRead += want;
                                if (refHashes is null)
                                    await output.WriteAsync(buffer.AsMemory(0, want), ct).ConfigureAwait(false);
                                for (var offset = 0; offset < want; offset += BlockMap.BlockBytes, block++)
                                {
                                    var length = Math.Min(BlockMap.BlockBytes, want - offset);
                                    BlockMap.Hash(buffer.AsSpan(offset, length), hash);
                                    map.AddBlockHash(hash);
                                    blocksRead++;
                                    if (refHashes is null)
                                        continue;
                                    var same = (block + 1) * BlockMap.HashBytes <= refHashes.Length
                                               && BlockMap.BlockLength(refSize, block) == length
                                               && hash.AsSpan().SequenceEqual(refHashes.AsSpan((int)(block * BlockMap.HashBytes), BlockMap.HashBytes));
                                    if (same)
                                        continue;
                                    blocksChanged++;
                                    var number = new byte[4];
                                    BinaryPrimitives.WriteUInt32LittleEndian(number, checked((uint)block));
                                    await output.WriteAsync(number, ct).ConfigureAwait(false);
                                    await output.WriteAsync(buffer.AsMemory(offset, length), ct).ConfigureAwait(false);
                                }
                            }

                            if (refHashes is not null)
                            {
                                var end = new byte[4];
                                BinaryPrimitives.WriteUInt32LittleEndian(end, DeltaStream.EndOfBlocks);
                                await output.WriteAsync(end, ct).ConfigureAwait(false);
                            }

                            break;
                        }

                        default:
                            throw new PgVaultException(ErrorCode.BaseBackupFailed,
                                $"the base backup's tar holds '{name}' of type {entry.EntryType}, which an incremental base backup cannot store");
                    }
                }
            }

            // The end-of-archive blocks (and anything after them) are read too: the source must reach its end.
            await tar.CopyToAsync(Stream.Null, ct).ConfigureAwait(false);
            await output.WriteAsync(new[] { (byte)'E' }, ct).ConfigureAwait(false);
            map.Finish();
            return new DeltaStatistics(files, whole, blocksRead, blocksChanged, bytesRead);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task WriteRecordAsync(Stream output, Action<MemoryStream> fill, CancellationToken ct)
    {
        using var record = new MemoryStream();
        fill(record);
        await output.WriteAsync(record.GetBuffer().AsMemory(0, (int)record.Length), ct).ConfigureAwait(false);
    }

    private static void WriteString(MemoryStream w, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        if (bytes.Length > ushort.MaxValue)
            throw new PgVaultException(ErrorCode.BaseBackupFailed, "a path too long for an incremental base backup");
        Span<byte> length = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)bytes.Length);
        w.Write(length);
        w.Write(bytes);
    }

    private static void WriteU32(MemoryStream w, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        w.Write(b);
    }

    private static void WriteI64(MemoryStream w, long value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, value);
        w.Write(b);
    }
}

/// <summary>One record of a <see cref="DeltaStream"/> as read.</summary>
public abstract record DeltaRecord(string Path)
{
    public sealed record Directory(string Path, UnixFileMode Mode) : DeltaRecord(Path);

    public sealed record Link(string Path, string Target) : DeltaRecord(Path);

    /// <summary>A whole file: read exactly <see cref="Size"/> bytes of <see cref="DeltaStreamReader.Data"/> next.</summary>
    public sealed record WholeFile(string Path, UnixFileMode Mode, long Size) : DeltaRecord(Path);

    /// <summary>A changed file: call <see cref="DeltaStreamReader.NextBlockAsync"/> until it returns false.</summary>
    public sealed record ChangedFile(string Path, UnixFileMode Mode, long Size) : DeltaRecord(Path);
}

/// <summary>Reads a <see cref="DeltaStream"/>; anything out of shape (or a missing end) is <see cref="ErrorCode.ObjectCorrupt"/>.</summary>
public sealed class DeltaStreamReader(Stream input, string name)
{
    private readonly byte[] _small = new byte[ushort.MaxValue];
    private bool _started;
    private DeltaRecord.ChangedFile? _changed;

    /// <summary>The stream, positioned at a whole file's data after <see cref="NextAsync"/> returned one.</summary>
    public Stream Data => input;

    /// <summary>The next record, or null at the end record.</summary>
    public async Task<DeltaRecord?> NextAsync(CancellationToken ct)
    {
        if (!_started)
        {
            await ReadSmallAsync(12, ct).ConfigureAwait(false);
            if (!_small.AsSpan(0, 8).SequenceEqual(DeltaStream.Magic))
                throw Corrupt("no incremental stream header");
            var version = BinaryPrimitives.ReadUInt32LittleEndian(_small.AsSpan(8));
            if (version != DeltaStream.Version)
                throw Corrupt($"incremental stream version {version}; this PgVault reads {DeltaStream.Version}");
            _started = true;
        }

        if (_changed is not null)
            throw new InvalidOperationException("read the changed file's blocks first");
        await ReadSmallAsync(1, ct).ConfigureAwait(false);
        var type = (char)_small[0];
        switch (type)
        {
            case 'E':
                return null;
            case 'D':
            {
                var path = await ReadStringAsync(ct).ConfigureAwait(false);
                return new DeltaRecord.Directory(path, (UnixFileMode)await ReadU32Async(ct).ConfigureAwait(false));
            }

            case 'L':
            {
                var path = await ReadStringAsync(ct).ConfigureAwait(false);
                return new DeltaRecord.Link(path, await ReadStringAsync(ct).ConfigureAwait(false));
            }

            case 'F' or 'B':
            {
                var path = await ReadStringAsync(ct).ConfigureAwait(false);
                var mode = (UnixFileMode)await ReadU32Async(ct).ConfigureAwait(false);
                await ReadSmallAsync(8, ct).ConfigureAwait(false);
                var size = BinaryPrimitives.ReadInt64LittleEndian(_small);
                if (size < 0)
                    throw Corrupt($"a negative size for '{path}'");
                if (type == 'F')
                    return new DeltaRecord.WholeFile(path, mode, size);
                return _changed = new DeltaRecord.ChangedFile(path, mode, size);
            }

            default:
                throw Corrupt($"an unknown record type 0x{(int)type:x2}");
        }
    }

    /// <summary>
    /// Reads the next changed block of the current <see cref="DeltaRecord.ChangedFile"/> into <paramref name="block"/>
    /// (8 KiB); returns its number and length, or null after the file's last one.
    /// </summary>
    public async Task<(long Block, int Length)?> NextBlockAsync(Memory<byte> block, CancellationToken ct)
    {
        var file = _changed ?? throw new InvalidOperationException("no changed file is being read");
        var number = await ReadU32Async(ct).ConfigureAwait(false);
        if (number == DeltaStream.EndOfBlocks)
        {
            _changed = null;
            return null;
        }

        if (number >= BlockMap.BlockCount(file.Size))
            throw Corrupt($"block {number} of '{file.Path}', beyond its size {file.Size}");
        var length = BlockMap.BlockLength(file.Size, number);
        await ReadExactAsync(block[..length], ct).ConfigureAwait(false);
        return (number, length);
    }

    private async Task<string> ReadStringAsync(CancellationToken ct)
    {
        await ReadSmallAsync(2, ct).ConfigureAwait(false);
        var length = BinaryPrimitives.ReadUInt16LittleEndian(_small);
        await ReadSmallAsync(length, ct).ConfigureAwait(false);
        return Encoding.UTF8.GetString(_small, 0, length);
    }

    private async Task<uint> ReadU32Async(CancellationToken ct)
    {
        await ReadSmallAsync(4, ct).ConfigureAwait(false);
        return BinaryPrimitives.ReadUInt32LittleEndian(_small);
    }

    private Task ReadSmallAsync(int count, CancellationToken ct) => ReadExactAsync(_small.AsMemory(0, count), ct);

    private async Task ReadExactAsync(Memory<byte> into, CancellationToken ct)
    {
        if (await input.ReadAtLeastAsync(into, into.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false) != into.Length)
            throw Corrupt("it ends early (truncated)");
    }

    private PgVaultException Corrupt(string what) =>
        new(ErrorCode.ObjectCorrupt, $"incremental base backup {name} is corrupt: {what}",
            "verify the repository with 'pgvault verify'; restore from an older base backup");
}

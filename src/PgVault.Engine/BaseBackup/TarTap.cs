using System.Globalization;
using System.Text;

namespace PgVault.Engine.BaseBackup;

/// <summary>
/// Watches a tar stream as it passes and keeps the contents of a few small root-level members (PostgreSQL's
/// <c>backup_label</c> and <c>backup_manifest</c>), without buffering anything else.
/// </summary>
public sealed class TarTap(IReadOnlySet<string> capture, long maxCaptureBytes = 512L * 1024 * 1024, ITarFileObserver? files = null)
{
    private const int Block = 512;
    private readonly byte[] _header = new byte[Block];
    private readonly Dictionary<string, MemoryStream> _captured = new(StringComparer.Ordinal);
    private int _headerFill;
    private long _dataRemaining;   // bytes of the current member's data still to come
    private long _paddingRemaining;
    private MemoryStream? _current;
    private bool _regular;

    /// <summary>The captured members by name.</summary>
    public IReadOnlyDictionary<string, byte[]> Members => _captured.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal);

    /// <summary>Total tar bytes seen.</summary>
    public long BytesSeen { get; private set; }

    public void Observe(ReadOnlySpan<byte> data)
    {
        BytesSeen += data.Length;
        while (!data.IsEmpty)
        {
            if (_dataRemaining > 0)
            {
                var n = (int)Math.Min(_dataRemaining, data.Length);
                _current?.Write(data[..n]);
                if (_regular)
                    files?.FileData(data[..n]);
                _dataRemaining -= n;
                data = data[n..];
                if (_dataRemaining == 0)
                    _current = null;
                continue;
            }

            if (_paddingRemaining > 0)
            {
                var n = (int)Math.Min(_paddingRemaining, data.Length);
                _paddingRemaining -= n;
                data = data[n..];
                continue;
            }

            var take = Math.Min(Block - _headerFill, data.Length);
            data[..take].CopyTo(_header.AsSpan(_headerFill));
            _headerFill += take;
            data = data[take..];
            if (_headerFill == Block)
            {
                _headerFill = 0;
                StartMember();
            }
        }
    }

    private void StartMember()
    {
        if (_header.AsSpan().IndexOfAnyExcept((byte)0) < 0)
        {
            Ended = true;
            return; // end-of-archive block
        }

        var name = Text(_header.AsSpan(0, 100));
        var size = ParseSize(_header.AsSpan(124, 12));
        var type = (char)_header[156];
        if (string.Equals(Encoding.ASCII.GetString(_header, 257, 5), "ustar", StringComparison.Ordinal))
        {
            var prefix = Text(_header.AsSpan(345, 155));
            if (prefix.Length > 0)
                name = prefix + "/" + name;
        }

        _dataRemaining = size;
        _paddingRemaining = (Block - (size % Block)) % Block;
        _current = null;
        _regular = type is '0' or '\0';
        if (_regular)
            files?.FileStarted(name, size);
        if (_regular && capture.Contains(name) && size <= maxCaptureBytes)
        {
            _current = new MemoryStream((int)size);
            _captured[name] = _current;
        }
    }

    /// <summary>The end of the tar was seen (its first end-of-archive block).</summary>
    public bool Ended { get; private set; }

    private static string Text(ReadOnlySpan<byte> field)
    {
        var end = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? field : field[..end]);
    }

    private static long ParseSize(ReadOnlySpan<byte> field)
    {
        if ((field[0] & 0x80) != 0)
        {
            // base-256 (GNU) for members of 8 GiB and more
            long value = 0;
            for (var i = 1; i < field.Length; i++)
                value = (value << 8) | field[i];
            return value;
        }

        var text = Text(field).Trim(' ', '\0');
        return text.Length == 0 ? 0 : Convert.ToInt64(text, 8);
    }

    /// <summary>Parses <c>START WAL LOCATION: 0/2000028 (file ...)</c> and <c>START TIMELINE: 1</c> from backup_label.</summary>
    public static (PgVault.Postgres.Lsn Start, uint Timeline) ParseBackupLabel(string label)
    {
        ArgumentNullException.ThrowIfNull(label);
        PgVault.Postgres.Lsn? start = null;
        uint timeline = 0;
        foreach (var line in label.Split('\n'))
        {
            if (line.StartsWith("START WAL LOCATION: ", StringComparison.Ordinal))
                start = PgVault.Postgres.Lsn.Parse(line["START WAL LOCATION: ".Length..].Split(' ')[0]);
            else if (line.StartsWith("START TIMELINE: ", StringComparison.Ordinal))
                timeline = uint.Parse(line["START TIMELINE: ".Length..].Trim(), CultureInfo.InvariantCulture);
        }

        return (start ?? throw new FormatException("backup_label has no START WAL LOCATION"), timeline);
    }
}

/// <summary>Sees the regular files of a tar as it passes (a full base backup's block map is built from them).</summary>
public interface ITarFileObserver
{
    /// <summary>A regular file of <paramref name="size"/> bytes starts; its data follows in <see cref="FileData"/> calls.</summary>
    void FileStarted(string name, long size);

    /// <summary>The next bytes of the current file's data.</summary>
    void FileData(ReadOnlySpan<byte> data);
}

/// <summary>Builds a block map from a tar's files as they pass (<see cref="TarTap"/>): 8 KiB carried between calls.</summary>
public sealed class BlockMapBuilder(BlockMapWriter map) : ITarFileObserver
{
    private readonly byte[] _block = new byte[BlockMap.BlockBytes];
    private readonly byte[] _hash = new byte[BlockMap.HashBytes];
    private int _fill;
    private long _remaining;

    public void FileStarted(string name, long size)
    {
        if (_remaining != 0)
            throw new InvalidOperationException($"a tar member started with {_remaining} bytes of the previous one missing");
        map.BeginFile(name, size);
        _remaining = size;
        _fill = 0;
    }

    public void FileData(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var n = Math.Min(data.Length, BlockMap.BlockBytes - _fill);
            data[..n].CopyTo(_block.AsSpan(_fill));
            _fill += n;
            _remaining -= n;
            data = data[n..];
            if (_fill == BlockMap.BlockBytes || _remaining == 0)
            {
                BlockMap.Hash(_block.AsSpan(0, _fill), _hash);
                map.AddBlockHash(_hash);
                _fill = 0;
            }
        }
    }

    /// <summary>Checks that every file's hashes were recorded.</summary>
    public void Finish() => map.Finish();
}

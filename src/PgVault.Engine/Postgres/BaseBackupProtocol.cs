using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using PgVault.Configuration;
using PgVault.Errors;
using PgVault.Postgres;

namespace PgVault.Engine.Postgres;

/// <summary>
/// One <c>BASE_BACKUP</c> on a replication connection, in the protocol of the cluster's major (see
/// <see cref="PostgresMajor.OptionListBaseBackup"/>): from 15, one COPY OUT carrying every archive and then the manifest,
/// each CopyData tagged with a type byte; before, one COPY OUT of plain tar bytes per archive and one for the manifest,
/// the tar without its end-of-archive blocks (added here, so the archive reads the same from every major). Read in order: <c>StartAsync</c> (the start
/// position), <see cref="Archive"/> to its end (the base tablespace's tar, compressed by the server when asked), then
/// <see cref="FinishAsync"/> (the manifest and the end position).
/// </summary>
/// <remarks>
/// The server sends the manifest apart from the tar: <see cref="TarTail"/> builds what <c>pg_basebackup -D - -Ft</c>
/// puts in place of the tar's end-of-archive blocks (a <c>backup_manifest</c> member and the end again), so the stored
/// tar is the same either way.
/// </remarks>
internal sealed class BaseBackupProtocol : IAsyncDisposable
{
    private readonly ReplicationWire _wire;
    private ReadOnlyMemory<byte> _pending;    // unread data of the current archive's CopyData message
    private bool _archiveEnded;
    private byte _next;                       // the CopyData type that ended the archive: 'm', 'n' or 0 (CopyDone)

    private readonly bool _tagged;           // CopyData carry a type byte (15+)
    private int _endBlocksLeft;               // end-of-archive bytes still to hand out (before 15, where the server sends none)

    private BaseBackupProtocol(ReplicationWire wire, PostgresMajor major)
    {
        _wire = wire;
        _tagged = major.OptionListBaseBackup;
    }

    /// <summary>Where the backup's WAL starts (its checkpoint's redo point) and on which timeline.</summary>
    public Lsn StartLsn { get; private set; }

    /// <summary>The timeline of <see cref="StartLsn"/>.</summary>
    public uint Timeline { get; private set; }

    /// <summary>Where the backup's WAL ends (known after <see cref="FinishAsync"/>).</summary>
    public Lsn EndLsn { get; private set; }

    /// <summary>The name the server gave the archive (<c>base.tar</c>, or <c>base.tar.zst</c> when it compresses).</summary>
    public string ArchiveName { get; private set; } = "";

    /// <summary>The archive's bytes, as the server sends them.</summary>
    public Stream Archive => new ArchiveStream(this);

    /// <summary>The walsender serving this backup (in <c>pg_stat_progress_basebackup</c>).</summary>
    public int BackendPid => _wire.BackendPid;

    /// <summary>
    /// Connects and starts a base backup labelled <paramref name="label"/>: fast checkpoint, page checksums verified (when
    /// the cluster has them), a manifest with <paramref name="manifestChecksums"/> checksums of the files, WAL left out; <paramref name="serverCompression"/>
    /// (e.g. <c>level=3,workers=2</c>) has the server compress the archive with zstd. Returns once the server has sent
    /// the start position and the archive begins.
    /// </summary>
    public static Task<BaseBackupProtocol> StartAsync(string connectionString, PostgresMajor major, string label, string? serverCompression,
        ManifestChecksum manifestChecksums, CancellationToken ct) =>
        StartAsync(connectionString, major, label, serverCompression, manifestChecksums, null, ct);

    /// <summary>
    /// As <see cref="StartAsync(string, PostgresMajor, string, string?, ManifestChecksum, CancellationToken)"/>, on the
    /// cluster <paramref name="expected"/> names only: before <c>BASE_BACKUP</c>, on the same connection, the server must
    /// run <paramref name="major"/> and answer <c>IDENTIFY_SYSTEM</c> with the expected system identifier. A connection
    /// string can reach another cluster than the one whose chain the backup goes into (a name or port re-pointed, a
    /// cluster re-initialised since WAL streaming connected): its files must never land in that chain.
    /// </summary>
    public static async Task<BaseBackupProtocol> StartAsync(string connectionString, PostgresMajor major, string label, string? serverCompression,
        ManifestChecksum manifestChecksums, ExpectedCluster? expected, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(major);
        if (serverCompression is not null && !major.ServerCompression)
        {
            throw new PgVaultException(ErrorCode.BaseBackupFailed,
                $"PostgreSQL {major} cannot compress a base backup on the server (BASE_BACKUP COMPRESSION is new in 15)",
                "set PgVault:Engine:BaseBackupCompression to Auto or Client");
        }

        var wire = await ReplicationWire.ConnectAsync(connectionString, "pgvault-basebackup", ct).ConfigureAwait(false);
        var backup = new BaseBackupProtocol(wire, major);
        try
        {
            await backup.CheckServerAsync(major, expected, ct).ConfigureAwait(false);
            await wire.QueryAsync(Command(major, label, serverCompression, manifestChecksums), ct).ConfigureAwait(false);
            await backup.ReadStartAsync(ct).ConfigureAwait(false);
            return backup;
        }
        catch
        {
            await backup.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The <c>BASE_BACKUP</c> command in <paramref name="major"/>'s syntax. Without <c>TABLESPACE_MAP</c>: with it, the
    /// server leaves out everything below <c>pg_tblspc</c> but the tablespaces it lists, and it lists no in-place
    /// tablespace (<c>allow_in_place_tablespaces</c>, a directory there rather than a link): their files were missing
    /// from the tar and the restored cluster failed with "could not stat file pg_tblspc/…" (seen on 14 and 15). Without
    /// it they are in the tar as directories; tablespaces outside the data directory are refused either way (see
    /// <see cref="ReadStartAsync"/>).
    /// </summary>
    internal static string Command(PostgresMajor major, string label, string? serverCompression, ManifestChecksum manifestChecksums)
    {
        if (!major.OptionListBaseBackup)
        {
            // 14: bare keywords; page checksums are verified unless NOVERIFY_CHECKSUMS.
            return $"BASE_BACKUP LABEL {Quote(label)} FAST MANIFEST 'yes' MANIFEST_CHECKSUMS {Quote(ManifestChecksumName(manifestChecksums))}";
        }

        var options = new List<string>
        {
            $"LABEL {Quote(label)}", "CHECKPOINT 'fast'", "MANIFEST 'yes'", $"MANIFEST_CHECKSUMS {Quote(ManifestChecksumName(manifestChecksums))}",
        };
        if (serverCompression is not null)
        {
            options.Add("COMPRESSION 'zstd'");
            options.Add($"COMPRESSION_DETAIL {Quote(serverCompression)}");
        }

        return $"BASE_BACKUP ({string.Join(", ", options)})";
    }

    /// <summary>
    /// The server this connection reached runs <paramref name="major"/> (its start-up's <c>server_version</c>) and, with
    /// <paramref name="expected"/>, is that cluster (<c>IDENTIFY_SYSTEM</c>'s system identifier).
    /// </summary>
    private async Task CheckServerAsync(PostgresMajor major, ExpectedCluster? expected, CancellationToken ct)
    {
        var serverMajor = ServerMajor(_wire.ServerVersion);
        if (serverMajor != major.Number)
        {
            throw new PgVaultException(ErrorCode.BaseBackupFailed,
                $"the server runs PostgreSQL {_wire.ServerVersion}, but {expected?.What ?? "the base backup"} is of PostgreSQL {major}",
                "the cluster's ConnectionString reaches another server than WAL streaming did (a name or port re-pointed, an upgraded " +
                "cluster); when streaming reconnects it starts a new backup for that server, and the next base backup goes there");
        }

        if (expected is null)
            return;
        await _wire.QueryAsync("IDENTIFY_SYSTEM", ct).ConfigureAwait(false);
        string? systemIdentifier = null;
        while (true)
        {
            var (type, body) = await _wire.ReadMessageAsync(ct).ConfigureAwait(false);
            if (type == (byte)'D')
                systemIdentifier = Row(body.Span)[0];
            else if (type == (byte)'E')
                throw ReplicationWire.ServerError(body.Span);
            else if (type == (byte)'Z')
                break;
        }

        if (!string.Equals(systemIdentifier, expected.SystemIdentifier, StringComparison.Ordinal))
        {
            throw new PgVaultException(ErrorCode.BaseBackupFailed,
                $"the server is another cluster than {expected.What}: its system identifier is {systemIdentifier}, the backup's " +
                $"{expected.SystemIdentifier}; nothing of it was written",
                "the cluster's ConnectionString reaches another cluster than WAL streaming did (a name or port re-pointed, a " +
                "re-initialised cluster); when streaming reconnects it starts a new backup for that cluster, and the next base backup goes there");
        }
    }

    /// <summary>The major of a <c>server_version</c> (<c>16.4</c>, <c>18beta1</c>, <c>14.23 (Debian …)</c>); 0 when it has none.</summary>
    internal static int ServerMajor(string serverVersion)
    {
        var digits = 0;
        while (digits < serverVersion.Length && char.IsAsciiDigit(serverVersion[digits]))
            digits++;
        return int.TryParse(serverVersion.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number : 0;
    }

    private static string Quote(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    private async Task ReadStartAsync(CancellationToken ct)
    {
        var resultSet = 0;
        while (true)
        {
            var (type, body) = await _wire.ReadMessageAsync(ct).ConfigureAwait(false);
            switch (type)
            {
                case (byte)'D':
                    var row = Row(body.Span);
                    if (resultSet == 0)
                    {
                        StartLsn = Lsn.Parse(row[0]!);
                        Timeline = uint.Parse(row[1]!, CultureInfo.InvariantCulture);
                    }
                    else if (row[0] is not null)
                    {
                        throw new PgVaultException(ErrorCode.BaseBackupFailed,
                            $"the cluster has a tablespace outside its data directory ('{row[1]}'), which PgVault cannot back up yet");
                    }

                    break;
                case (byte)'C':
                    resultSet++;
                    break;
                case (byte)'H' when !_tagged:
                    ArchiveName = "base.tar"; // one COPY OUT per archive, untagged: the base tablespace's tar begins
                    return;
                case (byte)'H':
                    var (copyType, copyBody) = await NextCopyDataAsync(ct).ConfigureAwait(false);
                    if (copyType != 'n')
                        throw Unexpected($"CopyData '{(char)copyType}' before the first archive");
                    ArchiveName = CString(copyBody.Span);
                    return;
                case (byte)'E':
                    throw ReplicationWire.ServerError(body.Span);
                default:
                    break; // RowDescription, NoticeResponse
            }
        }
    }

    /// <summary>The next CopyData of the COPY OUT: its type byte and the rest; type 0 for CopyDone.</summary>
    private async Task<(byte Type, ReadOnlyMemory<byte> Body)> NextCopyDataAsync(CancellationToken ct)
    {
        while (true)
        {
            var (type, body) = await _wire.ReadMessageAsync(ct).ConfigureAwait(false);
            switch (type)
            {
                case (byte)'d' when !_tagged:
                    return ((byte)'d', body);
                case (byte)'d':
                    if (body.Length == 0)
                        throw Unexpected("an empty CopyData message");
                    return (body.Span[0], body[1..]);
                case (byte)'c':
                    return (0, ReadOnlyMemory<byte>.Empty);
                case (byte)'E':
                    throw ReplicationWire.ServerError(body.Span);
                case (byte)'N':
                    break;
                default:
                    throw Unexpected($"message '{(char)type}' during the COPY OUT");
            }
        }
    }

    /// <summary>Fills <paramref name="buffer"/> from the archive's messages (less only at its end).</summary>
    private async ValueTask<int> ReadArchiveAsync(Memory<byte> buffer, CancellationToken ct)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = await ReadArchiveOnceAsync(buffer[total..], ct).ConfigureAwait(false);
            if (n == 0)
                break;
            total += n;
        }

        return total;
    }

    private async ValueTask<int> ReadArchiveOnceAsync(Memory<byte> buffer, CancellationToken ct)
    {
        while (_pending.IsEmpty)
        {
            if (_archiveEnded)
                return EndBlocks(buffer.Span);
            var (type, body) = await NextCopyDataAsync(ct).ConfigureAwait(false);
            switch (type)
            {
                case (byte)'d':
                    _pending = body;
                    break;
                case (byte)'p':
                    break; // progress
                case 0 when !_tagged:
                    // Before 15 the archive's COPY OUT ends without the tar's end-of-archive blocks: add them.
                    _archiveEnded = true;
                    _endBlocksLeft = 1024;
                    return EndBlocks(buffer.Span);
                default:
                    _archiveEnded = true;
                    _next = type;
                    if (type == 'n')
                        throw new PgVaultException(ErrorCode.BaseBackupFailed, "the server sent a second archive (a tablespace), which PgVault cannot back up yet");
                    return 0;
            }
        }

        var n = Math.Min(buffer.Length, _pending.Length);
        _pending[..n].CopyTo(buffer);
        _pending = _pending[n..];
        return n;
    }

    private int EndBlocks(Span<byte> buffer)
    {
        var n = Math.Min(buffer.Length, _endBlocksLeft);
        buffer[..n].Clear();
        _endBlocksLeft -= n;
        return n;
    }

    /// <summary>After the archive: reads the manifest and the end position; returns the manifest.</summary>
    public async Task<byte[]> FinishAsync(CancellationToken ct)
    {
        if (!_archiveEnded || _endBlocksLeft > 0)
            throw new InvalidOperationException("the archive has not been read to its end");
        if (!_tagged)
            await ManifestCopyAsync(ct).ConfigureAwait(false);
        else if (_next != 'm')
            throw Unexpected("no backup manifest after the archive");
        using var manifest = new MemoryStream();
        while (true)
        {
            var (type, body) = await NextCopyDataAsync(ct).ConfigureAwait(false);
            if (type == 0)
                break;
            if (type == 'd')
                manifest.Write(body.Span);
        }

        var ended = false;
        while (true)
        {
            var (type, body) = await _wire.ReadMessageAsync(ct).ConfigureAwait(false);
            switch (type)
            {
                case (byte)'D':
                    var row = Row(body.Span);
                    EndLsn = Lsn.Parse(row[0]!);
                    ended = true;
                    break;
                case (byte)'E':
                    throw ReplicationWire.ServerError(body.Span);
                case (byte)'Z':
                    if (!ended)
                        throw Unexpected("no end position");
                    return manifest.ToArray();
                default:
                    break;
            }
        }
    }

    /// <summary>Before 15: waits for the COPY OUT that carries the manifest (another archive there is a tablespace).</summary>
    private async Task ManifestCopyAsync(CancellationToken ct)
    {
        while (true)
        {
            var (type, body) = await _wire.ReadMessageAsync(ct).ConfigureAwait(false);
            switch (type)
            {
                case (byte)'H':
                    return;
                case (byte)'E':
                    throw ReplicationWire.ServerError(body.Span);
                case (byte)'T' or (byte)'D':
                    throw Unexpected("no backup manifest after the archive");
                default:
                    break; // CommandComplete of the COPY, NoticeResponse
            }
        }
    }

    /// <summary>The name BASE_BACKUP's MANIFEST_CHECKSUMS and pg_basebackup's <c>--manifest-checksums</c> take.</summary>
    public static string ManifestChecksumName(ManifestChecksum checksum) => checksum switch
    {
        ManifestChecksum.None => "NONE",
        ManifestChecksum.CRC32C => "CRC32C",
        ManifestChecksum.SHA224 => "SHA224",
        ManifestChecksum.SHA256 => "SHA256",
        ManifestChecksum.SHA384 => "SHA384",
        ManifestChecksum.SHA512 => "SHA512",
        _ => throw new ArgumentOutOfRangeException(nameof(checksum), checksum, "not a manifest checksum"),
    };

    /// <summary>
    /// What <c>pg_basebackup -D - -Ft</c> puts in place of the server tar's end-of-archive blocks: a
    /// <c>backup_manifest</c> member with <paramref name="manifest"/> and the end-of-archive blocks.
    /// </summary>
    public static byte[] TarTail(byte[] manifest, DateTimeOffset mtime)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var padded = (manifest.Length + 511) / 512 * 512;
        var tail = new byte[512 + padded + 1024];
        void Text(int offset, int length, string value) =>
            Encoding.ASCII.GetBytes(value).AsSpan(0, Math.Min(length, value.Length)).CopyTo(tail.AsSpan(offset));
        void Octal(int offset, int length, long value) => Text(offset, length, Convert.ToString(value, 8).PadLeft(length - 1, '0'));
        Text(0, 100, "backup_manifest");
        Octal(100, 8, Convert.ToInt32("600", 8));
        Octal(108, 8, 0);
        Octal(116, 8, 0);
        Octal(124, 12, manifest.Length);
        Octal(136, 12, mtime.ToUnixTimeSeconds());
        tail[156] = (byte)'0';
        Text(257, 6, "ustar");
        Text(263, 2, "00");
        tail.AsSpan(148, 8).Fill((byte)' ');
        var sum = 0;
        foreach (var b in tail.AsSpan(0, 512))
            sum += b;
        Text(148, 8, Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ");
        manifest.CopyTo(tail, 512);
        return tail;
    }

    private static string?[] Row(ReadOnlySpan<byte> body)
    {
        var count = BinaryPrimitives.ReadInt16BigEndian(body);
        var values = new string?[count];
        var at = 2;
        for (var i = 0; i < count; i++)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(body[at..]);
            at += 4;
            if (length >= 0)
            {
                values[i] = Encoding.UTF8.GetString(body.Slice(at, length));
                at += length;
            }
        }

        return values;
    }

    private static string CString(ReadOnlySpan<byte> body)
    {
        var end = body.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? body : body[..end]);
    }

    private static PgVaultException Unexpected(string what) =>
        new(ErrorCode.BaseBackupFailed, $"unexpected reply to BASE_BACKUP: {what}");

    public ValueTask DisposeAsync() => _wire.DisposeAsync();

    /// <summary>The archive's bytes as a read-only stream (ends where the server's next part begins).</summary>
    private sealed class ArchiveStream(BaseBackupProtocol protocol) : PgVault.Storage.ReadOnlyStream
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            protocol.ReadArchiveAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) =>
            throw new NotSupportedException("the base backup's archive is read asynchronously");
    }
}

/// <summary>The cluster a base backup must come from: its chain's system identifier, and how messages name the chain.</summary>
/// <param name="SystemIdentifier">The system identifier of the chain's cluster (IDENTIFY_SYSTEM, pg_control).</param>
/// <param name="What">The chain as messages name it, e.g. "backup 'c1-abcdefgh-16' of cluster 'c1'".</param>
internal sealed record ExpectedCluster(string SystemIdentifier, string What);

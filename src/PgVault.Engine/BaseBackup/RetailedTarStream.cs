using PgVault.Storage;

namespace PgVault.Engine.BaseBackup;

/// <summary>
/// A tar stream with its end-of-archive blocks (1,024 zero bytes) replaced by more members and a new end, known only
/// once the source has ended (built by <c>tail</c>): how the manifest joins the server's tar, as pg_basebackup does it.
/// </summary>
internal sealed class RetailedTarStream(Stream source, Func<CancellationToken, Task<byte[]>> tail) : ReadOnlyStream
{
    private const int EndBytes = 1024;
    private readonly byte[] _work = new byte[1024 * 1024 + EndBytes];
    private int _start;   // first byte of _work not handed out
    private int _end;     // end of the bytes read into _work
    private byte[]? _tail;
    private int _tailOffset;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
            return 0;
        while (_tail is null)
        {
            // Hand out all but the last 1,024 bytes read: they may be the end of the archive.
            if (_end - _start > EndBytes)
            {
                var n = Math.Min(buffer.Length, _end - _start - EndBytes);
                _work.AsSpan(_start, n).CopyTo(buffer.Span);
                _start += n;
                return n;
            }

            if (_start > 0)
            {
                Buffer.BlockCopy(_work, _start, _work, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            var read = await source.ReadAsync(_work.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (read > 0)
            {
                _end += read;
                continue;
            }

            if (_end - _start != EndBytes || _work.AsSpan(_start, EndBytes).IndexOfAnyExcept((byte)0) >= 0)
                throw new InvalidDataException("the server's tar does not end with the end-of-archive blocks");
            _start = _end;
            _tail = await tail(cancellationToken).ConfigureAwait(false);
        }

        var take = Math.Min(buffer.Length, _tail.Length - _tailOffset);
        _tail.AsSpan(_tailOffset, take).CopyTo(buffer.Span);
        _tailOffset += take;
        return take;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read asynchronously");
}

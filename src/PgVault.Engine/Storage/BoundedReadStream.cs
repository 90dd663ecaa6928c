using PgVault.Storage;

namespace PgVault.Engine.Storage;

/// <summary>
/// Reads at most a given number of bytes of an inner stream, then reports its end; disposing it disposes the inner
/// stream. Serves ranged reads (<see cref="ReadRange.Length"/>).
/// </summary>
internal sealed class BoundedReadStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private long _remainingBytes;

    public BoundedReadStream(Stream inner, long lengthBytes)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentOutOfRangeException.ThrowIfNegative(lengthBytes);
        _inner = inner;
        _remainingBytes = lengthBytes;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_remainingBytes == 0 || buffer.IsEmpty)
            return 0;
        var n = _inner.Read(buffer[..(int)Math.Min(buffer.Length, _remainingBytes)]);
        _remainingBytes -= n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_remainingBytes == 0 || buffer.IsEmpty)
            return 0;
        var n = await _inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remainingBytes)], cancellationToken).ConfigureAwait(false);
        _remainingBytes -= n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}

namespace PgVault.Storage;

/// <summary>
/// The boilerplate of a forward-only, read-only stream: no seeking, no writing, no length. Subclasses implement the
/// reads (<see cref="Stream.Read(byte[], int, int)"/>, and the async one where they have a better one).
/// </summary>
public abstract class ReadOnlyStream : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>
/// A <see cref="ReadOnlyStream"/> whose reads are asynchronous at heart (a network body, a decryption that awaits its
/// source): subclasses implement <see cref="Stream.ReadAsync(Memory{byte}, CancellationToken)"/>; the array overload
/// goes to it, and a synchronous read (a decompressor's) waits for it.
/// </summary>
public abstract class AsyncReadOnlyStream : ReadOnlyStream
{
#pragma warning disable VSTHRD002 // a synchronous reader gets the same reads, blocking
    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);
}

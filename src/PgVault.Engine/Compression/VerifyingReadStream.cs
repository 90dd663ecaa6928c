using System.Globalization;
using PgVault.Errors;

namespace PgVault.Engine.Compression;

/// <summary>
/// A read-only stream of the decompressed content of an object, checked against the SHA-256 (and optionally the size)
/// recorded when it was written: the pair of the checksum <see cref="CompressedContent"/> computes. The check happens as
/// the data flows and at its end, so a reader sees <see cref="PgVaultException"/> (<see cref="ErrorCode.ObjectCorrupt"/>,
/// naming the object) instead of garbage: on a SHA-256 or size mismatch, and on any decode error of the codec.
/// </summary>
/// <remarks>
/// The SHA-256 is only known at the end: a consumer must read until a read returns 0 to have the content verified (as
/// <see cref="CompressedObjectExtensions.ReadVerifiedToAsync"/> does). The bytes before the end are handed out as they
/// are decoded, so a consumer writing them somewhere must discard that on an exception.
/// </remarks>
public sealed class VerifyingReadStream : Stream
{
    private readonly string _key;
    private readonly string _expectedSha256Hex;
    private readonly long? _expectedBytes;
    private readonly ICompressionCodec _codec;
    private readonly Stream _decompressor;
    private readonly Sha256Stream _hashed;
    private readonly Stream _content;
    private readonly Stream? _ahead;
    private readonly bool _storedChecksum;
    private long _contentBytes;
    private PgVaultException? _failure;
    private bool _verified;
    private bool _disposed;

    /// <summary>
    /// Decompresses <paramref name="compressed"/> (the object <paramref name="key"/>) with <paramref name="codec"/> and
    /// verifies it against <paramref name="expectedSha256Hex"/> and, when given, <paramref name="expectedBytes"/>: the
    /// SHA-256 and size of the decompressed content, or with <paramref name="storedChecksum"/> those of the stored
    /// (compressed) bytes, for objects recorded that way (a base backup compressed by the database server: PgVault never
    /// saw its content). Either way the whole object is decoded, so a frame that does not decode fails too.
    /// Disposing this disposes <paramref name="compressed"/>.
    /// </summary>
    public VerifyingReadStream(string key, Stream compressed, ICompressionCodec codec, string expectedSha256Hex, long? expectedBytes = null,
        bool storedChecksum = false)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(compressed);
        ArgumentNullException.ThrowIfNull(codec);
        ArgumentNullException.ThrowIfNull(expectedSha256Hex);
        if (expectedSha256Hex.Length != 64 || expectedSha256Hex.AsSpan().ContainsAnyExcept("0123456789abcdefABCDEF"))
            throw new ArgumentException($"'{expectedSha256Hex}' is not a SHA-256 in hex", nameof(expectedSha256Hex));
        if (expectedBytes < 0)
            throw new ArgumentOutOfRangeException(nameof(expectedBytes), expectedBytes, "a size is not negative");

        _key = key;
        _expectedSha256Hex = expectedSha256Hex.ToLowerInvariant();
        _expectedBytes = expectedBytes;
        _codec = codec;
        _storedChecksum = storedChecksum;
        if (storedChecksum)
        {
            // Read (and hashed) ahead on a task of its own: the hashing runs beside the decoding, not in turn with it.
            _hashed = Sha256Stream.ForRead(compressed, leaveOpen: false);
            _ahead = new Storage.ReadAheadStream(_hashed);
            _decompressor = codec.CreateDecompressor(_ahead, leaveOpen: true);
            _content = _decompressor;
        }
        else
        {
            _decompressor = codec.CreateDecompressor(compressed, leaveOpen: false);
            _hashed = Sha256Stream.ForRead(_decompressor, leaveOpen: true);
            _content = _hashed;
        }
    }

    /// <summary>The decompressed bytes read so far.</summary>
    public long Bytes => _contentBytes;

    /// <summary>Whether the end was reached and the content matched.</summary>
    public bool IsVerified => _verified;

    public override bool CanRead => !_disposed;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => Bytes;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        Check();
        int n;
        try
        {
            n = _content.Read(buffer);
        }
        catch (Exception e) when (_codec.IsCorruptionError(e))
        {
            throw Fail($"{_codec.Name} cannot decode it ({e.Message})", e);
        }

        return After(n, buffer.IsEmpty);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Check();
        int n;
        try
        {
            n = await _content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (_codec.IsCorruptionError(e))
        {
            throw Fail($"{_codec.Name} cannot decode it ({e.Message})", e);
        }

        return After(n, buffer.IsEmpty);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _decompressor.Dispose();
            _ahead?.Dispose();
            _hashed.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            await _decompressor.DisposeAsync().ConfigureAwait(false);
            if (_ahead is not null)
                await _ahead.DisposeAsync().ConfigureAwait(false);
            await _hashed.DisposeAsync().ConfigureAwait(false);
        }

        GC.SuppressFinalize(this);
    }

    private void Check()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_failure is not null)
            throw _failure;
    }

    private int After(int n, bool emptyRequest)
    {
        _contentBytes += n;
        if (_expectedBytes is { } expected && _hashed.Bytes > expected)
            throw Fail(string.Create(CultureInfo.InvariantCulture, $"it holds more than the {expected} {What} recorded for it"), null);
        if (n > 0 || emptyRequest || _verified)
            return n;

        // The end: everything was decoded, now the pair assertion.
        if (_storedChecksum)
        {
            // The decoder stops at the end of its frames: anything stored after them counts (and is an error).
            Span<byte> rest = stackalloc byte[512];
            while (_ahead!.Read(rest) > 0)
            {
            }
        }

        if (_expectedBytes is { } size && _hashed.Bytes != size)
            throw Fail(string.Create(CultureInfo.InvariantCulture, $"it holds {_hashed.Bytes} {What}, {size} were recorded for it"), null);
        if (!string.Equals(_hashed.HashHex, _expectedSha256Hex, StringComparison.Ordinal))
            throw Fail($"SHA-256 of its {(_storedChecksum ? "stored bytes" : "content")} is {_hashed.HashHex}, expected {_expectedSha256Hex}", null);
        _verified = true;
        return 0;
    }

    private string What => _storedChecksum ? "stored bytes" : "bytes";

    private PgVaultException Fail(string what, Exception? inner)
    {
        _failure = new PgVaultException(ErrorCode.ObjectCorrupt, $"object '{_key}' is corrupt: {what}",
            "the repository copy is damaged; restore from another backup or repository copy", inner);
        return _failure;
    }
}

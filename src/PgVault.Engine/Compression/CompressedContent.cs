namespace PgVault.Engine.Compression;

/// <summary>
/// The compressed form of a source stream, to hand to <see cref="PgVault.Storage.IObjectStore.WriteAsync"/> as its
/// content, which records on the way what PgVault keeps about the object: the SHA-256 and size of the
/// <em>uncompressed</em> content, and the compressed size. Read them once the store has read <see cref="Stream"/> to its end.
/// </summary>
/// <example>
/// <code>
/// await using var content = new CompressedContent(source, codec);
/// var stored = await store.WriteAsync(key, content.Stream, ct);
/// record(content.Sha256Hex, content.UncompressedBytes, content.CompressedBytes);
/// </code>
/// </example>
public sealed class CompressedContent : IAsyncDisposable, IDisposable
{
    private readonly Sha256Stream _hashed;
    private readonly CompressingReadStream _compressed;

    /// <summary>
    /// Compresses <paramref name="source"/> with <paramref name="codec"/>; disposing this disposes the source unless
    /// <paramref name="leaveOpen"/>.
    /// </summary>
    public CompressedContent(Stream source, ICompressionCodec codec, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(codec);
        _hashed = Sha256Stream.ForRead(source, leaveOpen);
        _compressed = new CompressingReadStream(_hashed, codec, leaveOpen: false);
    }

    /// <summary>The compressed bytes, read-only, not seekable.</summary>
    public Stream Stream => _compressed;

    /// <summary>Whether the whole source was read and every compressed byte handed out.</summary>
    public bool IsComplete => _compressed.IsComplete && _hashed.IsComplete;

    /// <summary>SHA-256 of the uncompressed content (64 lowercase hex digits). Throws until <see cref="IsComplete"/>.</summary>
    public string Sha256Hex => IsComplete ? _hashed.HashHex : throw Incomplete();

    /// <summary>Size of the uncompressed content. Throws until <see cref="IsComplete"/>.</summary>
    public long UncompressedBytes => IsComplete ? _hashed.Bytes : throw Incomplete();

    /// <summary>Size of the compressed content. Throws until <see cref="IsComplete"/>.</summary>
    public long CompressedBytes => IsComplete ? _compressed.CompressedBytes : throw Incomplete();

    /// <summary>The compressed stream's bookkeeping, for the memory tests.</summary>
    internal CompressingReadStream Compressing => _compressed;

    public void Dispose() => _compressed.Dispose();

    public ValueTask DisposeAsync() => _compressed.DisposeAsync();

    private static InvalidOperationException Incomplete() =>
        new("the checksum and sizes of compressed content are known once its stream has been read to the end");
}

namespace PgVault.Engine.Compression;

/// <summary>
/// A compression format as a pair of stream filters chained into the data path (pgBackRest's <c>IoFilter</c>), so the
/// object stores never know about compression. Implementations are thread-safe: every call creates its own streams.
/// </summary>
public interface ICompressionCodec
{
    /// <summary>The format's name as recorded in metadata ("zstd").</summary>
    string Name { get; }

    /// <summary>The key suffix of objects in this format (".zst").</summary>
    string FileSuffix { get; }

    /// <summary>
    /// A write-only stream that compresses what is written to it into <paramref name="destination"/>. Disposing it ends
    /// the compressed frame (writing its last bytes); data written to it is complete only after that.
    /// </summary>
    Stream CreateCompressor(Stream destination, bool leaveOpen);

    /// <summary>
    /// A read-only stream of the decompressed content of <paramref name="source"/>. It throws when the compressed data is
    /// malformed or ends early; <see cref="IsCorruptionError"/> tells those exceptions from I/O errors of the source.
    /// </summary>
    Stream CreateDecompressor(Stream source, bool leaveOpen);

    /// <summary>Whether <paramref name="exception"/>, thrown by a decompressor, means the compressed data is corrupt.</summary>
    bool IsCorruptionError(Exception exception);
}

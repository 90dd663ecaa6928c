using ZstdSharp;
using ZstdSharp.Unsafe;

namespace PgVault.Engine.Compression;

/// <summary>
/// zstd. Compression through ZstdSharp.Port, the managed C# port of libzstd. Decompression through the native libzstd
/// (ZstdNet, which ships libzstd for Linux, macOS and Windows on x64 and arm64) where it loads — less
/// CPU per restored byte than the port (bench/README.md), and no JIT warm-up of the port's decoder in every short-lived
/// <c>wal-fetch</c> process — and through the port otherwise, so a repository can be restored on any machine that runs
/// .NET. Both read the same frames. <c>bench/compression/README.md</c> compares the two libraries.
/// </summary>
/// <remarks>
/// Frames carry zstd's own content checksum (XXH64) on top of the SHA-256 PgVault records, so corruption is detected
/// while decoding as well as at the end; both decoders also report a frame cut short.
/// </remarks>
public sealed class ZstdCodec : ICompressionCodec
{
    /// <summary>zstd's default level: a good speed/ratio balance for WAL and data files.</summary>
    public const int DefaultLevel = 3;

    /// <summary>Creates a codec; see <see cref="Level"/> and <see cref="Workers"/>.</summary>
    /// <param name="level">See <see cref="Level"/>.</param>
    /// <param name="workers">See <see cref="Workers"/>.</param>
    /// <param name="nativeDecompression">Decompress with the native libzstd where it loads (false: always the port).</param>
    public ZstdCodec(int level = DefaultLevel, int workers = 0, bool nativeDecompression = true)
    {
        if (level < Compressor.MinCompressionLevel || level > Compressor.MaxCompressionLevel || level == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(level), level,
                $"zstd levels are {Compressor.MinCompressionLevel}..-1 (fast) and 1..{Compressor.MaxCompressionLevel}");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(workers);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(workers, 64);
        Level = level;
        Workers = workers;
        _native = nativeDecompression;
    }

    private readonly bool _native;

    /// <summary>The shared codec with the default level and no worker threads.</summary>
    public static ZstdCodec Default { get; } = new();

    /// <summary>The compression level (1..22, or negative for zstd's fast levels). Decompression reads any level.</summary>
    public int Level { get; }

    /// <summary>
    /// Worker threads compressing in parallel (zstd's <c>nbWorkers</c>). If zero, compression runs on the calling thread.
    /// With workers, each compressor holds a few jobs of input and output (up to workers + 2 jobs of some MiB each at the
    /// default levels), so give it workers only where
    /// that memory is available.
    /// </summary>
    public int Workers { get; }

    /// <inheritdoc />
    public string Name => "zstd";

    /// <inheritdoc />
    public string FileSuffix => ".zst";

    /// <inheritdoc />
    public Stream CreateCompressor(Stream destination, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var stream = new CompressionStream(destination, Level, bufferSize: 0, leaveOpen);
        try
        {
            stream.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
            if (Workers > 0)
                stream.SetParameter(ZSTD_cParameter.ZSTD_c_nbWorkers, Workers);
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public Stream CreateDecompressor(Stream source, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(source);
        return _native && NativeZstdDecoder.IsAvailable
            ? new NativeZstdDecoder(source, leaveOpen)
            : new DecompressionStream(source, bufferSize: 0, checkEndOfStream: true, leaveOpen);
    }

    /// <inheritdoc />
    public bool IsCorruptionError(Exception exception) =>
        exception is ZstdException or EndOfStreamException or InvalidDataException;

    /// <summary>Whether this codec decompresses with the native libzstd (see the class remarks).</summary>
    public bool NativeDecompression => _native && NativeZstdDecoder.IsAvailable;
}

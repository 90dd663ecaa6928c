using ZstdSharp;
using ZstdSharp.Unsafe;

namespace PgVault.Engine.Compression;

/// <summary>
/// zstd through ZstdSharp.Port, the managed C# port of libzstd: no native library to install, so a repository can be
/// restored on any machine that runs .NET. <c>bench/compression/README.md</c> compares it with the native libzstd
/// (ZstdNet) and explains the choice.
/// </summary>
/// <remarks>
/// Frames carry zstd's own content checksum (XXH64) on top of the SHA-256 PgVault records, so corruption is detected
/// while decoding as well as at the end.
/// </remarks>
public sealed class ZstdCodec : ICompressionCodec
{
    /// <summary>zstd's default level: a good speed/ratio balance for WAL and data files.</summary>
    public const int DefaultLevel = 3;

    /// <summary>Creates a codec; see <see cref="Level"/> and <see cref="Workers"/>.</summary>
    public ZstdCodec(int level = DefaultLevel, int workers = 0)
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
    }

    /// <summary>The shared codec with the default level and no worker threads.</summary>
    public static ZstdCodec Default { get; } = new();

    /// <summary>The compression level (1..22, or negative for zstd's fast levels). Decompression reads any level.</summary>
    public int Level { get; }

    /// <summary>
    /// Worker threads compressing in parallel (zstd's <c>nbWorkers</c>). If zero, compression runs on the calling thread.
    /// With workers, each compressor holds a few jobs of input and output (up to workers + 2 jobs of some MiB each at the
    /// default levels; about 17 MiB for 2 workers at level 1 on incompressible data), so give it workers only where
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
        return new DecompressionStream(source, bufferSize: 0, checkEndOfStream: true, leaveOpen);
    }

    /// <inheritdoc />
    public bool IsCorruptionError(Exception exception) =>
        exception is ZstdException or EndOfStreamException or InvalidDataException;
}

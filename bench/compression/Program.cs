using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace PgVault.Bench.Compression;

// Compression benchmark for PgVault's data path: ZstdSharp.Port (managed C# port of zstd) versus ZstdNet (a binding of
// the native libzstd that the package ships for linux-x64). Both are driven through their streaming Stream APIs, the way
// the engine uses them (CompressionStream for writing, DecompressionStream for reading).
//
// Usage: run.sh [--size-mib N] [--repeat N]
//   --size-mib  size of each generated data set (default 256)
//   --repeat    runs per measurement; the best is reported (default 2)
internal static class Program
{
    public static int Main(string[] args)
    {
        var sizeMib = 256;
        var repeat = 2;
        for (var i = 0; i < args.Length - 1; i += 2)
        {
            switch (args[i])
            {
                case "--size-mib": sizeMib = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--repeat": repeat = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown option '{args[i]}'", nameof(args));
            }
        }

        var sizeBytes = sizeMib * 1024L * 1024L;
        var cores = Environment.ProcessorCount;
        Print($"# zstd benchmark: {sizeMib} MiB per data set, best of {repeat}, {cores} cores, .NET {Environment.Version}");
        var sharp = Bench.Version(typeof(ZstdSharp.Compressor));
        var native = Bench.Version(typeof(ZstdNet.Compressor));
        Print($"# ZstdSharp.Port {sharp}, ZstdNet {native} (native libzstd from the package's runtimes/linux-x64)");

        var sw = Stopwatch.StartNew();
        var dataSets = new (string Name, byte[] Data)[]
        {
            ("pgbench", DataSets.PgbenchLike(sizeBytes)),
            ("mixed40", DataSets.Mixed(sizeBytes)),
        };
        Print($"# data generated in {sw.Elapsed.TotalSeconds:F1} s");

        ICodecUnderTest[] codecs = [new ZstdSharpCodec(), new ZstdNetCodec()];

        // Warm up the JIT (tiered compilation, PGO) on a small slice so the first measured run is not penalised.
        foreach (var codec in codecs)
        {
            for (var w = 0; w < 3; w++)
            {
                var compressed = Bench.Compress(codec, dataSets[1].Data.AsMemory(0, 16 << 20), 3, 0);
                Bench.Decompress(codec, compressed, 16 << 20);
            }
        }

        // The libraries take turns within each repetition, so both see the same background load; the best run counts.
        // Wall-clock MB/s is what a backup gets; MB per CPU-second (all threads of the process) is the work done, which
        // a busy machine disturbs much less.
        Console.WriteLine();
        Console.WriteLine(
            "| data | level | workers | library | ratio | compress MB/s | compress MB/CPU-s | decompress MB/s | decompress MB/CPU-s |");
        Console.WriteLine("|---|---:|---:|---|---:|---:|---:|---:|---:|");
        foreach (var (name, data) in dataSets)
        {
            foreach (var level in new[] { 1, 3 })
            {
                foreach (var workers in new[] { 0, 2 })
                {
                    var results = codecs.Select(_ => new Result()).ToArray();
                    for (var r = 0; r < repeat; r++)
                    {
                        for (var c = 0; c < codecs.Length; c++)
                        {
                            var result = results[c];
                            result.Compressed?.Dispose();
                            var m = Measure.Start();
                            result.Compressed = Bench.Compress(codecs[c], data, level, workers);
                            result.Compress = result.Compress.Best(m.Stop());
                            m = Measure.Start();
                            Bench.Decompress(codecs[c], result.Compressed, data.Length);
                            result.Decompress = result.Decompress.Best(m.Stop());
                        }
                    }

                    var mb = data.Length / 1e6;
                    for (var c = 0; c < codecs.Length; c++)
                    {
                        var result = results[c];
                        Bench.Verify(codecs[c], result.Compressed!, data);
                        var ratio = (double)data.Length / result.Compressed!.Length;
                        var (cw, cc) = (mb / result.Compress.Wall.TotalSeconds, mb / result.Compress.Cpu.TotalSeconds);
                        var (dw, dc) = (mb / result.Decompress.Wall.TotalSeconds, mb / result.Decompress.Cpu.TotalSeconds);
                        Print($"| {name} | {level} | {workers} | {codecs[c].Name} | {ratio:F2} | {cw:F0} | {cc:F0} | {dw:F0} | {dc:F0} |");
                        result.Compressed.Dispose();
                    }
                }
            }
        }

        Console.WriteLine();
        Print($"# total {sw.Elapsed.TotalSeconds:F0} s");
        return 0;
    }

    private static void Print(FormattableString line) => Console.WriteLine(line.ToString(CultureInfo.InvariantCulture));
}

/// <summary>Wall-clock and process CPU time of one run.</summary>
internal readonly record struct Timing(TimeSpan Wall, TimeSpan Cpu)
{
    public static Timing None { get; } = new(TimeSpan.MaxValue, TimeSpan.MaxValue);

    /// <summary>The faster of the two, per measure.</summary>
    public Timing Best(Timing other) => new(Wall < other.Wall ? Wall : other.Wall, Cpu < other.Cpu ? Cpu : other.Cpu);
}

internal readonly record struct Measure(long StartTimestamp, TimeSpan StartCpu)
{
    public static Measure Start() => new(Stopwatch.GetTimestamp(), Process.GetCurrentProcess().TotalProcessorTime);

    public Timing Stop() => new(Stopwatch.GetElapsedTime(StartTimestamp), Process.GetCurrentProcess().TotalProcessorTime - StartCpu);
}

internal sealed class Result
{
    public MemoryStream? Compressed { get; set; }

    public Timing Compress { get; set; } = Timing.None;

    public Timing Decompress { get; set; } = Timing.None;
}

internal interface ICodecUnderTest
{
    string Name { get; }

    Stream Compress(Stream destination, int level, int workers);

    Stream Decompress(Stream source);
}

internal sealed class ZstdSharpCodec : ICodecUnderTest
{
    public string Name => "ZstdSharp.Port (managed)";

    public Stream Compress(Stream destination, int level, int workers)
    {
        var stream = new ZstdSharp.CompressionStream(destination, level, bufferSize: 0, leaveOpen: true);
        stream.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
        if (workers > 0)
            stream.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_nbWorkers, workers);
        return stream;
    }

    public Stream Decompress(Stream source) =>
        new ZstdSharp.DecompressionStream(source, bufferSize: 0, checkEndOfStream: true, leaveOpen: true);
}

internal sealed class ZstdNetCodec : ICodecUnderTest
{
    public string Name => "ZstdNet (native)";

    public Stream Compress(Stream destination, int level, int workers)
    {
        var parameters = new Dictionary<ZstdNet.ZSTD_cParameter, int> { [ZstdNet.ZSTD_cParameter.ZSTD_c_checksumFlag] = 1 };
        if (workers > 0)
            parameters[ZstdNet.ZSTD_cParameter.ZSTD_c_nbWorkers] = workers;
        // The options own native state; the stream keeps a reference, the finalizer frees it after the run.
        var options = new ZstdNet.CompressionOptions(null, parameters, level);
        return new ZstdNet.CompressionStream(destination, options);
    }

    public Stream Decompress(Stream source) => new ZstdNet.DecompressionStream(source);
}

internal static class Bench
{
    private const int CopyBufferBytes = 1 << 20;

    public static string Version(Type type) =>
        type.Assembly.GetName().Version?.ToString(3) ?? "?";

    public static MemoryStream Compress(ICodecUnderTest codec, ReadOnlyMemory<byte> data, int level, int workers)
    {
        var output = new MemoryStream(capacity: data.Length / 2 + 1024);
        using (var compressor = codec.Compress(output, level, workers))
        {
            for (var offset = 0; offset < data.Length; offset += CopyBufferBytes)
                compressor.Write(data.Span.Slice(offset, Math.Min(CopyBufferBytes, data.Length - offset)));
        }

        output.Position = 0;
        return output;
    }

    public static void Decompress(ICodecUnderTest codec, MemoryStream compressed, long expectedBytes)
    {
        compressed.Position = 0;
        var buffer = new byte[CopyBufferBytes];
        long total = 0;
        using (var decompressor = codec.Decompress(compressed))
        {
            int n;
            while ((n = decompressor.Read(buffer)) > 0)
                total += n;
        }

        if (total != expectedBytes)
            throw new InvalidOperationException($"{codec.Name}: decompressed {total} bytes, expected {expectedBytes}");
    }

    public static void Verify(ICodecUnderTest codec, MemoryStream compressed, byte[] original)
    {
        compressed.Position = 0;
        var buffer = new byte[CopyBufferBytes];
        var offset = 0;
        using var decompressor = codec.Decompress(compressed);
        int n;
        while ((n = decompressor.Read(buffer)) > 0)
        {
            if (!buffer.AsSpan(0, n).SequenceEqual(original.AsSpan(offset, n)))
                throw new InvalidOperationException($"{codec.Name}: round trip differs near offset {offset}");
            offset += n;
        }

        if (offset != original.Length)
            throw new InvalidOperationException($"{codec.Name}: round trip gave {offset} bytes, expected {original.Length}");
    }
}

internal static class DataSets
{
    private const int PageBytes = 8192;

    /// <summary>
    /// Heap pages shaped like pgbench_accounts: a 24-byte page header, line pointers growing down, and tuples
    /// (23-byte header + aid, bid, abalance + blank-padded char(84) filler) growing up from the end of the page.
    /// Very compressible, as real pgbench data is.
    /// </summary>
    public static byte[] PgbenchLike(long sizeBytes)
    {
        var data = new byte[sizeBytes];
        var random = new Random(42);
        var aid = 1;
        const int tupleBytes = 24 + 12 + 88;          // MAXALIGNed header, three int4, varlena char(84)
        for (long page = 0; page < sizeBytes / PageBytes; page++)
        {
            var p = data.AsSpan((int)(page * PageBytes), PageBytes);
            BitConverter.TryWriteBytes(p[0..], 0x0300_0000_1234_5678L + page);   // pd_lsn
            BitConverter.TryWriteBytes(p[8..], (ushort)random.Next());              // pd_checksum
            var lower = 24;
            var upper = PageBytes;
            while (upper - tupleBytes >= lower + 4)
            {
                upper -= tupleBytes;
                BitConverter.TryWriteBytes(p[lower..], upper | (1 << 15) | (tupleBytes << 17)); // ItemIdData
                lower += 4;
                var t = p[upper..];
                BitConverter.TryWriteBytes(t[0..], 735 + (aid / 100_000));        // t_xmin
                BitConverter.TryWriteBytes(t[8..], aid);                          // ctid-ish
                t[22] = 24;                                                       // t_hoff
                BitConverter.TryWriteBytes(t[24..], aid);                         // aid
                BitConverter.TryWriteBytes(t[28..], 1 + (aid / 100_000));         // bid
                BitConverter.TryWriteBytes(t[32..], random.Next(10) == 0 ? random.Next(-5000, 5000) : 0); // abalance
                t[36] = (byte)((88 << 1) | 1);                                    // short varlena header
                t.Slice(37, 84).Fill((byte)' ');
                aid++;
            }

            BitConverter.TryWriteBytes(p[12..], (ushort)lower);
            BitConverter.TryWriteBytes(p[14..], (ushort)upper);
        }

        return data;
    }

    /// <summary>
    /// About 40 % compressible: 32 KiB blocks, half of them random bytes (incompressible) and half English-like text
    /// made of random words (compresses about 4:1), interleaved so that every window sees both.
    /// </summary>
    public static byte[] Mixed(long sizeBytes)
    {
        var data = new byte[sizeBytes];
        var random = new Random(7);
        string[] words =
        [
            "backup", "restore", "segment", "timeline", "archive", "the", "of", "and", "a", "to", "in", "is", "postgres",
            "checkpoint", "replica", "standby", "primary", "manifest", "label", "target", "recovery", "wal", "write",
            "read", "lsn", "table", "index", "vacuum", "tuple", "page", "buffer", "relation", "transaction", "commit",
            "abort", "lock", "query", "plan", "scan", "join", "hash", "sort", "merge", "insert", "update", "delete",
            "select", "from", "where", "order", "group", "limit", "offset", "cluster", "database", "schema", "role",
        ];
        var text = new StringBuilder();
        const int blockBytes = 32 * 1024;
        for (long offset = 0; offset < sizeBytes; offset += blockBytes)
        {
            var block = data.AsSpan((int)offset, (int)Math.Min(blockBytes, sizeBytes - offset));
            if (random.Next(100) < 48)
            {
                random.NextBytes(block);
                continue;
            }

            text.Clear();
            while (text.Length < block.Length)
            {
                text.Append(words[random.Next(words.Length)]);
                text.Append(random.Next(12) == 0 ? ".\n" : " ");
                if (random.Next(20) == 0)
                    text.Append(random.Next(1_000_000).ToString(CultureInfo.InvariantCulture)).Append(' ');
            }

            Encoding.ASCII.GetBytes(text.ToString(0, block.Length), block);
        }

        return data;
    }
}

using System.Globalization;

namespace PgVault.Postgres;

/// <summary>A WAL position (log sequence number), printed as PostgreSQL does: <c>16/B374D848</c>.</summary>
public readonly record struct Lsn(ulong Value) : IComparable<Lsn>
{
    public static Lsn Zero { get; } = new(0);

    public static Lsn Parse(string text) =>
        TryParse(text, out var lsn) ? lsn : throw new FormatException($"'{text}' is not an LSN (expected e.g. 16/B374D848)");

    public static bool TryParse(string text, out Lsn lsn)
    {
        ArgumentNullException.ThrowIfNull(text);
        lsn = Zero;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0
            || !uint.TryParse(text.AsSpan(0, slash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hi)
            || !uint.TryParse(text.AsSpan(slash + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var lo))
        {
            return false;
        }

        lsn = new Lsn(((ulong)hi << 32) | lo);
        return true;
    }

    public int CompareTo(Lsn other) => Value.CompareTo(other.Value);

    public static bool operator <(Lsn a, Lsn b) => a.Value < b.Value;

    public static bool operator >(Lsn a, Lsn b) => a.Value > b.Value;

    public static bool operator <=(Lsn a, Lsn b) => a.Value <= b.Value;

    public static bool operator >=(Lsn a, Lsn b) => a.Value >= b.Value;

    public static Lsn operator +(Lsn a, long bytes) => new(checked((ulong)((long)a.Value + bytes)));

    public static long operator -(Lsn a, Lsn b) => checked((long)a.Value - (long)b.Value);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Value >> 32:X}/{Value & 0xFFFFFFFF:X}");
}

/// <summary>WAL segment names and positions (<c>TTTTTTTTXXXXXXXXYYYYYYYY</c>) for a given segment size.</summary>
public static class WalSegment
{
    public const long DefaultSizeBytes = 16L * 1024 * 1024;

    /// <summary>Segment number containing <paramref name="lsn"/>.</summary>
    public static ulong Number(Lsn lsn, long segmentSizeBytes = DefaultSizeBytes) => lsn.Value / (ulong)segmentSizeBytes;

    /// <summary>First LSN of segment <paramref name="number"/>.</summary>
    public static Lsn Start(ulong number, long segmentSizeBytes = DefaultSizeBytes) => new(number * (ulong)segmentSizeBytes);

    /// <summary>The 24-hex-digit file name of segment <paramref name="number"/> on <paramref name="timeline"/>.</summary>
    public static string Name(uint timeline, ulong number, long segmentSizeBytes = DefaultSizeBytes)
    {
        var perId = 0x1_0000_0000UL / (ulong)segmentSizeBytes;
        return string.Create(CultureInfo.InvariantCulture, $"{timeline:X8}{number / perId:X8}{number % perId:X8}");
    }

    /// <summary>Parses a segment file name into its timeline and segment number; false when it is not one.</summary>
    public static bool TryParse(string name, out uint timeline, out ulong number, long segmentSizeBytes = DefaultSizeBytes)
    {
        timeline = 0;
        number = 0;
        if (name is null || name.Length != 24 || name.AsSpan().ContainsAnyExcept("0123456789ABCDEF"))
            return false;
        timeline = uint.Parse(name.AsSpan(0, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var log = ulong.Parse(name.AsSpan(8, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var seg = ulong.Parse(name.AsSpan(16, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var perId = 0x1_0000_0000UL / (ulong)segmentSizeBytes;
        if (seg >= perId)
            return false;
        number = (log * perId) + seg;
        return true;
    }

    /// <summary>The name of a timeline history file, <c>TTTTTTTT.history</c>.</summary>
    public static string HistoryName(uint timeline) => string.Create(CultureInfo.InvariantCulture, $"{timeline:X8}.history");
}

using System.Globalization;
using PgVault.Postgres;

namespace PgVault.Engine.Wal;

/// <summary>One line of a timeline history file: timeline <see cref="Timeline"/> ended at <see cref="SwitchPoint"/>.</summary>
public readonly record struct TimelineSwitch(uint Timeline, Lsn SwitchPoint);

/// <summary>Parses PostgreSQL's <c>TTTTTTTT.history</c> files (<c>parentTLI \t switchpoint \t reason</c>).</summary>
public static class TimelineHistory
{
    public static IReadOnlyList<TimelineSwitch> Parse(string content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var list = new List<TimelineSwitch>();
        foreach (var raw in content.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            var fields = line.Split('\t', ' ');
            var parts = fields.Where(f => f.Length > 0).ToArray();
            if (parts.Length < 2 || !uint.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var tli))
                throw new FormatException($"malformed timeline history line '{line}'");
            list.Add(new TimelineSwitch(tli, Lsn.Parse(parts[1])));
        }

        return list;
    }

    /// <summary>WAL page size (XLOG_BLCKSZ).</summary>
    public const ulong WalPageBytes = 8192;

    /// <summary>
    /// Whether a chain whose WAL ends at <paramref name="chainEnd"/> on <paramref name="chainTimeline"/> lies in the
    /// history of the server's current timeline: the chain's timeline must appear in it and end at or after the chain's
    /// end. A promoted standby streams whole pages, so the chain may hold the rest of the page in which the old timeline
    /// ended (bytes after the last record, never replayed): an end within that page still passes through.
    /// </summary>
    public static bool PassesThrough(IReadOnlyList<TimelineSwitch> history, uint chainTimeline, Lsn chainEnd)
    {
        ArgumentNullException.ThrowIfNull(history);
        foreach (var entry in history)
        {
            if (entry.Timeline == chainTimeline)
                return chainEnd.Value <= (entry.SwitchPoint.Value + WalPageBytes - 1) / WalPageBytes * WalPageBytes;
        }

        return false;
    }

    /// <summary>The timeline following <paramref name="timeline"/> in the history (or <paramref name="current"/>).</summary>
    public static uint Next(IReadOnlyList<TimelineSwitch> history, uint timeline, uint current)
    {
        ArgumentNullException.ThrowIfNull(history);
        for (var i = 0; i < history.Count; i++)
        {
            if (history[i].Timeline == timeline)
                return i + 1 < history.Count ? history[i + 1].Timeline : current;
        }

        return current;
    }
}

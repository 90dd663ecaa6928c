using System.CommandLine;
using System.Globalization;
using PgVault.Configuration;
using PgVault.Engine.Repository;
using PgVault.Hosting;

namespace PgVault.Commands;

/// <summary>
/// <c>pgvault info [--cluster ID] [--backup-id ID] [--output text|json]</c>: each backup (chain) the configured locations
/// hold, its base backups and WAL ranges, read from the repository alone (no catalog; works with or without <c>serve</c>).
/// Exit 1 when nothing is found.
/// </summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var config = Cli.ConfigOption();
        var cluster = new Option<string?>("--cluster")
        {
            Description = "Show only this cluster's backups, e.g. --cluster 8b1a6c2e-5d3f-4a7b-9c1e-2f3a4b5c6d7e (default: every cluster)",
            HelpName = "ID",
        };
        cluster.Validators.Add(r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (text.Length == 0 || text.Contains("..", StringComparison.Ordinal)
                || text.AsSpan().ContainsAnyExcept("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.="))
                r.AddError($"--cluster '{text}' is not a cluster id, e.g. 8b1a6c2e-5d3f-4a7b-9c1e-2f3a4b5c6d7e");
        });
        var backupId = new Option<string?>("--backup-id")
        {
            Description = "Show only this backup, e.g. --backup-id 6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f-15 (default: every backup)",
            HelpName = "ID",
        };
        var output = Cli.OutputOption("for people", "one versioned document");
        var command = new Command("info",
            "List each backup with its recovery window, base backups and WAL ranges, from the repository alone; exit 1 when none is found")
        {
            config, cluster, backupId, output,
        };
        command.SetAction(async (result, ct) =>
        {
            var options = Cli.LoadOptions(result, config);
            var stores = new LocationStores(options);
            var onlyCluster = result.GetValue(cluster) is { } c ? PgVaultOptionsValidator.CanonicalClusterId(c) : null;
            var only = result.GetValue(backupId);
            var backups = new List<InfoBackup>();
            foreach (var location in options.Locations.Keys)
            {
                foreach (var chain in await RepositoryScanner.ScanAsync(stores.Get(location), onlyCluster, ct).ConfigureAwait(false))
                {
                    var backup = RepositoryInfo.Describe(chain, location);
                    if (only is null || string.Equals(only, backup.BackupId, StringComparison.Ordinal))
                        backups.Add(backup);
                }
            }

            if (backups.Count == 0)
            {
                var what = only is not null ? $"backup '{only}'" : onlyCluster is not null ? $"backup of cluster '{onlyCluster}'" : "backup";
                return await Cli.NoBackupFoundAsync(options, what).ConfigureAwait(false);
            }

            if (result.GetValue(output) == "json")
                await Console.Out.WriteLineAsync(RepositoryInfo.Serialize(new InfoDocument(RepositoryInfo.JsonVersion, backups))).ConfigureAwait(false);
            else
                await Console.Out.WriteAsync(Text(backups)).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    /// <summary>The text form: one block per backup, one line per base backup and WAL timeline.</summary>
    public static string Text(IReadOnlyList<InfoBackup> backups)
    {
        ArgumentNullException.ThrowIfNull(backups);
        var s = new System.Text.StringBuilder();
        foreach (var b in backups)
        {
            s.Append(CultureInfo.InvariantCulture,
                $"backup {b.BackupId}: {b.State}\n  cluster {b.ClusterId}, PostgreSQL {b.PostgresMajor ?? "?"}, location '{b.Location}'");
            if (b.CreatedAt is { } created)
                s.Append(CultureInfo.InvariantCulture, $", created {Time(created)}");
            s.Append('\n');
            var w = b.RecoveryWindow;
            s.Append(w.EarliestTime is { } earliest
                ? string.Create(CultureInfo.InvariantCulture, $"  recovery window: {Time(earliest)} ({w.EarliestLsn}) to {w.LatestLsn}")
                : $"  recovery window: none (no complete base backup); WAL to {w.LatestLsn}");
            if (w.WalStoredAt is { } stored)
                s.Append(CultureInfo.InvariantCulture, $", WAL last stored {Time(stored)}");
            s.Append('\n');
            s.Append(CultureInfo.InvariantCulture, $"  stored: {Bytes(b.StoredBytes)} ({Bytes(b.WalStoredBytes)} of WAL)\n");
            foreach (var bb in b.BaseBackups)
            {
                if (!bb.Complete || bb.StartTime is null)
                {
                    s.Append(CultureInfo.InvariantCulture, $"  base backup {bb.Label}: incomplete, {Bytes(bb.StoredBytes)} stored\n");
                    continue;
                }

                s.Append(CultureInfo.InvariantCulture,
                    $"  base backup {bb.Label}: timeline {bb.Timeline}, {bb.StartLsn} to {bb.StopLsn}, {Time(bb.StartTime.Value)} to " +
                    $"{Time(bb.StopTime!.Value)} ({bb.DurationSeconds:0.0} s), database {Bytes(bb.DatabaseBytes ?? 0)}, stored {Bytes(bb.StoredBytes)}, " +
                    $"{bb.Type}{(bb.Keep ? ", KEPT" : "")}");
                if (bb.Annotations.Count > 0)
                    s.Append(" (").AppendJoin(", ", bb.Annotations.Select(kv => $"{kv.Key}={kv.Value}")).Append(')');
                if (bb.Restorable == "end")
                    s.Append(CultureInfo.InvariantCulture, $", restorable to its end only ({bb.StopLsn} to {bb.ReachesLsn}: restore --base-backup {bb.Label})");
                else if (bb.Restorable == "none")
                    s.Append(", not restorable (its WAL is not all stored)");
                s.Append('\n');
            }

            if (b.Wal.Count == 0)
                s.Append("  WAL: none\n");
            foreach (var r in b.Wal)
            {
                s.Append(CultureInfo.InvariantCulture,
                    $"  WAL timeline {r.Timeline}: {r.FirstSegment} to {r.LastSegment} ({r.StartLsn} to {r.EndLsn}), {r.Segments} segment(s), " +
                    $"{Bytes(r.StoredBytes)} stored, ");
                s.Append(r.Missing.Count == 0 ? "no gap\n" : $"GAP: {r.Missing.Count} segment(s) missing: {string.Join(", ", r.Missing)}\n");
            }
        }

        return s.ToString();
    }

    private static string Time(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.0} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.0} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 10):0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}

using System.CommandLine;
using Microsoft.Extensions.Logging;
using PgVault.Configuration;
using PgVault.Engine.Retention;
using PgVault.Hosting;

namespace PgVault.Commands;

/// <summary>
/// <c>pgvault expire [--cluster ID] [--dry-run]</c>: deletes what no restore inside each cluster's recovery window
/// needs (<see cref="ExpiryPlanner"/>), or with <c>--dry-run</c> lists it with its bytes and deletes nothing.
/// <c>serve</c> runs the same on <c>Engine:ExpirySchedule</c>.
/// </summary>
public static class ExpireCommand
{
    public static Command Create()
    {
        var config = Cli.ConfigOption();
        var cluster = new Option<string?>("--cluster")
        {
            Description = "Expire only this cluster's backups (configured or not), e.g. --cluster 6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f (default: every cluster)",
            HelpName = "ID",
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "List what would be deleted and how many bytes; delete nothing" };
        var command = new Command("expire", "Delete base backups and WAL outside each cluster's retention (RetentionDays)") { config, cluster, dryRun };
        command.SetAction(async (result, ct) =>
        {
            var options = Cli.LoadOptions(result, config);
            var only = result.GetValue(cluster) is { } id ? PgVaultOptionsValidator.CanonicalClusterId(id) : null;
            var dry = result.GetValue(dryRun);
            var catalog = await CatalogCommand.OpenAsync(options, ct).ConfigureAwait(false);
            try
            {
                using var loggers = LoggerFactory.Create(l => l.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
                var stores = new LocationStores(options);
                var locations = options.Locations.Keys.ToDictionary(k => k, stores.Get, StringComparer.Ordinal);
                var report = await new ExpiryRunner(options, locations, catalog, TimeProvider.System, loggers.CreateLogger("pgvault"))
                    .RunAsync(only, dry, coordinator: null, ct).ConfigureAwait(false);
                await PrintAsync(report, Console.Out).ConfigureAwait(false);
                return 0;
            }
            finally
            {
                await CatalogCommand.CloseAsync(catalog).ConfigureAwait(false);
            }
        });
        return command;
    }

    /// <summary>What expiry did (or, in a dry run, would do), one line per base backup, WAL range and kept base backup.</summary>
    public static async Task PrintAsync(ExpiryReport report, TextWriter output)
    {
        var verb = report.DryRun ? "would delete" : "deleted";
        foreach (var (location, plan) in report.Plans)
        {
            var id = plan.BackupId ?? $"{plan.Chain.ClusterId}/{plan.Chain.ChainId}";
            if (plan.Whole)
            {
                await output.WriteLineAsync(
                    $"{verb} backup {id} whole in location '{location}': {plan.Objects} objects, {ExpiryRunner.FormatBytes(plan.Bytes)} ({plan.Bytes} bytes); {plan.Reason}")
                    .ConfigureAwait(false);
                continue;
            }

            foreach (var b in plan.KeptOnRequest)
            {
                var m = b.Metadata!;
                var notes = b.Annotation is { Annotations.Count: > 0 } a ? " (" + string.Join(", ", a.Annotations.Select(kv => $"{kv.Key}={kv.Value}")) + ")" : "";
                await output.WriteLineAsync(
                    $"{(report.DryRun ? "would keep" : "kept")} base backup {b.Label} of {id} on request (pgvault annotate --keep){notes}, " +
                    $"with its WAL {m.StartLsn} to {m.EndLsn}").ConfigureAwait(false);
            }
            foreach (var kept in plan.KeptAsReferences)
                await output.WriteLineAsync($"keeping base backup {kept} of {id} (an incremental base backup is restored over it)").ConfigureAwait(false);

            foreach (var b in plan.BaseBackups)
            {
                await output.WriteLineAsync(
                    $"{verb} base backup {b.Label} of {id}: {b.Objects.Count} objects, {ExpiryRunner.FormatBytes(b.Bytes)} ({b.Bytes} bytes); {b.Reason}")
                    .ConfigureAwait(false);
            }

            if (plan.Wal.Count > 0)
            {
                var walBytes = plan.Wal.Sum(w => w.SizeBytes);
                await output.WriteLineAsync(
                    $"{verb} WAL of {id} before {plan.NewWalStart?.ToString() ?? "the oldest kept base backup"}: {plan.Wal.Count} objects, " +
                    $"{ExpiryRunner.FormatBytes(walBytes)} ({walBytes} bytes)").ConfigureAwait(false);
            }

            if (plan.NewWindowStart is { } start)
                await output.WriteLineAsync($"backup {id}: recovery window {(report.DryRun ? "would start" : "starts")} at {ExpiryPlanner.Format(start)}").ConfigureAwait(false);
        }

        var objects = report.DryRun ? report.Objects : report.ObjectsDeleted;
        var bytes = report.DryRun ? report.Bytes : report.BytesDeleted;
        await output.WriteLineAsync(
            $"expire{(report.DryRun ? " (dry run)" : "")}: {verb} {objects} objects, {ExpiryRunner.FormatBytes(bytes)} ({bytes} bytes) from {report.Plans.Count} backup(s)")
            .ConfigureAwait(false);
    }
}

using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Npgsql;
using Npgsql.Replication;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Errors;
using PgVault.Hosting;
using PgVault.Postgres;
using PgVault.Storage;

namespace PgVault.Commands;

/// <summary>
/// <c>pgvault check [--cluster ID] [--output text|json]</c>: is this set-up able to back up? The configuration, each
/// cluster (connection, replication role, settings, slot), each location (write, read, list, delete a probe object;
/// encryption keys) and, where <c>serve</c> streams a cluster's WAL, a forced WAL switch that must reach the repository.
/// One line per check; exit 1 on any error, 2 when the configuration itself is invalid.
/// </summary>
public static class CheckCommand
{
    /// <summary>The version of the <c>--output json</c> document (docs/OPERATIONS.md describes it).</summary>
    public const int JsonVersion = 1;

    private const string Ok = "ok";
    private const string Warning = "warning";
    private const string Error = "error";

    public static Command Create()
    {
        var config = Cli.ConfigOption();
        var cluster = new Option<string?>("--cluster")
        {
            Description = "Check only this configured cluster (and its location), e.g. --cluster 8b1a6c2e-… (default: every cluster and location)",
            HelpName = "ID",
        };
        var output = Cli.OutputOption("one line per check", "one document");
        var walTimeout = new Option<int>("--wal-timeout")
        {
            Description = "Seconds a forced WAL switch may take to reach the repository while serve streams, e.g. --wal-timeout 30",
            HelpName = "SECONDS",
            DefaultValueFactory = _ => 60,
            CustomParser = r => int.TryParse(r.Tokens[0].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v is >= 1 and <= 3600 ? v
                : Fail(r, $"--wal-timeout '{r.Tokens[0].Value}' is not a number of seconds from 1 to 3600, e.g. 30"),
        };
        var command = new Command("check",
            "Check the configuration, each cluster's replication set-up and each location; exit 1 on any error")
        {
            config, cluster, output, walTimeout,
        };
        command.SetAction(async (result, ct) =>
        {
            var json = result.GetValue(output) == "json";
            var report = new List<CheckResult>();
            PgVaultOptions options;
            try
            {
                options = Cli.LoadOptions(result, config);
            }
            catch (PgVaultException ex) when (ex.Code == ErrorCode.InvalidConfiguration)
            {
                report.Add(new("configuration", "configuration", Error, ex.Message, ex.Hint ?? "correct the configuration"));
                await WriteAsync(report, json).ConfigureAwait(false);
                return Cli.ExitConfiguration;
            }

            report.Add(new("configuration", "configuration", Ok, "valid", null));
            var clusters = options.Clusters.ToList();
            if (result.GetValue(cluster) is { } only)
            {
                var id = PgVaultOptionsValidator.CanonicalClusterId(only);
                clusters = [.. clusters.Where(c => string.Equals(c.Id, id, StringComparison.Ordinal))];
                if (clusters.Count == 0)
                {
                    report.Add(new("configuration", $"cluster {id}", Error, $"cluster '{id}' is not configured", "add it under PgVault:Clusters, or give a configured id"));
                    await WriteAsync(report, json).ConfigureAwait(false);
                    return Cli.ExitFailure;
                }
            }
            else if (clusters.Count == 0)
            {
                report.Add(new("configuration", "configuration", Warning, "no cluster is configured: nothing is backed up",
                    "add one under PgVault:Clusters (Id, ConnectionString)"));
            }

            var locations = result.GetValue(cluster) is null
                ? options.Locations.Keys.ToList()
                : clusters.Select(c => c.BackupLocation).Distinct(StringComparer.Ordinal).ToList();
            using var stores = new LocationStores(options);
            var usable = new Dictionary<string, IObjectStore>(StringComparer.Ordinal);
            foreach (var location in locations)
            {
                if (await CheckLocationAsync(options, stores, location, report, ct).ConfigureAwait(false) is { } store)
                    usable[location] = store;
            }

            var timeout = TimeSpan.FromSeconds(result.GetValue(walTimeout));
            foreach (var c in clusters)
                await CheckClusterAsync(c, usable.GetValueOrDefault(c.BackupLocation), timeout, report, ct).ConfigureAwait(false);

            await WriteAsync(report, json).ConfigureAwait(false);
            return report.Any(r => r.Status == Error) ? Cli.ExitFailure : 0;
        });
        return command;
    }

    /// <summary>One check's outcome: <see cref="Status"/> is ok, warning or error; <see cref="Fix"/> says what to do about it.</summary>
    public sealed record CheckResult(
        [property: JsonPropertyName("check")] string Check,
        [property: JsonPropertyName("subject")] string Subject,
        [property: JsonPropertyName("status")] string Status,
        [property: JsonPropertyName("message")] string Message,
        [property: JsonPropertyName("fix")] string? Fix);

    private static async Task<IObjectStore?> CheckLocationAsync(PgVaultOptions options, LocationStores stores, string location,
        List<CheckResult> report, CancellationToken ct)
    {
        var subject = $"location {location}";
        IObjectStore store;
        try
        {
            store = stores.Get(location);
        }
        catch (PgVaultException ex) when (options.Locations[location].Encryption is not null)
        {
            report.Add(new("encryption", subject, Error, ex.Message, ex.Hint ?? $"correct PgVault:Locations:{location}:Encryption"));
            return null;
        }
        catch (Exception ex) when (ex is PgVaultException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            // A filesystem location creates its directory when opened.
            report.Add(new("storage", subject, Error, $"{options.Locations[location].Type}: the repository cannot be opened for writing: {ex.Message}",
                LocationFix(options.Locations[location], location)));
            return null;
        }

        if (options.Locations[location].Encryption is { } encryption)
            report.Add(new("encryption", subject, Ok, $"key '{encryption.KeyId}' and {encryption.Keys.Count} key(s) in all loaded", null));

        // A probe object under check/: written, read back, listed and deleted (encrypted like every object when the location is).
        var step = "write";
        try
        {
            await RepositoryProbe.WriteReadListDeleteAsync(store, Environment.MachineName, s => step = s, ct).ConfigureAwait(false);
            report.Add(new("storage", subject, Ok, $"{store.Kind}: write, read, list and delete of a probe object under check/ work", null));
            return store;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or PgVaultException
                                       or Amazon.Runtime.AmazonServiceException or Amazon.Runtime.AmazonClientException or HttpRequestException)
        {
            report.Add(new("storage", subject, Error, $"{store.Kind}: {step} of a probe object under check/ failed: {ex.Message}",
                LocationFix(options.Locations[location], location)));
            return null;
        }
    }

    private static string LocationFix(LocationOptions location, string name) =>
        string.Equals(location.Type, LocationOptions.S3, StringComparison.Ordinal)
            ? $"check PgVault:Locations:{name} (Endpoint, Bucket, credentials) and that the credentials may put, get, list and delete objects"
            : $"make PgVault:Locations:{name}:Path a directory this user can create, write and read";

    private static async Task CheckClusterAsync(ClusterOptions cluster, IObjectStore? store, TimeSpan walTimeout, List<CheckResult> report,
        CancellationToken ct)
    {
        var subject = $"cluster {cluster.Id}";
        NpgsqlConnection conn;
        try
        {
            conn = new NpgsqlConnection(cluster.ConnectionString);
            await conn.OpenAsync(ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or ArgumentException or InvalidOperationException)
        {
            report.Add(new("connection", subject, Error, $"cannot connect: {ex.Message}",
                "check the cluster's ConnectionString (host, port, user, password) and the server's pg_hba.conf"));
            return;
        }

        await using (conn.ConfigureAwait(false))
        {
            var s = await CheckQueries.SettingsAsync(conn, ct).ConfigureAwait(false);
            report.Add(new("connection", subject, Ok, $"connected as '{s.Role}' to PostgreSQL {s.VersionNumber / 10000}", null));
            await CheckReplicationAsync(cluster, s, subject, report, ct).ConfigureAwait(false);

            report.Add(s.WalLevel is "replica" or "logical"
                ? new("wal_level", subject, Ok, $"wal_level = {s.WalLevel}", null)
                : new("wal_level", subject, Error, $"wal_level = {s.WalLevel}: the WAL cannot restore a base backup",
                    "set wal_level = replica in postgresql.conf and restart PostgreSQL"));
            // WAL streaming and a base backup each use a WAL sender.
            report.Add(s.MaxWalSenders >= 2
                ? new("max_wal_senders", subject, Ok, $"max_wal_senders = {s.MaxWalSenders}", null)
                : new("max_wal_senders", subject, Error, $"max_wal_senders = {s.MaxWalSenders}: WAL streaming and a base backup need 2",
                    "set max_wal_senders = 10 (or at least 2 more than other replicas use) and restart PostgreSQL"));

            var slot = await CheckQueries.SlotAsync(conn, cluster.SlotName, ct).ConfigureAwait(false);
            var slotsFree = s.MaxReplicationSlots - s.SlotsInUse;
            report.Add(slot is not null || slotsFree > 0
                ? new("max_replication_slots", subject, Ok, $"max_replication_slots = {s.MaxReplicationSlots} ({s.SlotsInUse} in use)", null)
                : new("max_replication_slots", subject, Error,
                    $"max_replication_slots = {s.MaxReplicationSlots}, all in use: the slot '{cluster.SlotName}' cannot be created",
                    "raise max_replication_slots and restart PostgreSQL, or drop an unused slot"));
            report.Add(SlotCheck(cluster, slot, subject));
            report.Add(KeepSizeCheck(s, subject));

            if (slot is { Active: true })
                report.Add(await WalSwitchCheckAsync(cluster, conn, store, walTimeout, subject, ct).ConfigureAwait(false));
            else
                report.Add(new("wal_switch", subject, Ok, "skipped: the slot is not active, so no 'pgvault serve' streams this cluster's WAL now", null));
        }
    }

    /// <summary>A replication connection as WAL streaming opens it: the role's REPLICATION attribute and pg_hba.conf's replication line.</summary>
    private static async Task CheckReplicationAsync(ClusterOptions cluster, CheckQueries.ServerSettings s, string subject,
        List<CheckResult> report, CancellationToken ct)
    {
        if (!s.CanReplicate)
        {
            report.Add(new("replication", subject, Error, $"role '{s.Role}' may not replicate",
                $"ALTER ROLE \"{s.Role}\" REPLICATION (or connect as a role that has it)"));
            return;
        }

        try
        {
            var conn = new PhysicalReplicationConnection(cluster.ConnectionString);
            await using (conn.ConfigureAwait(false))
            {
                await conn.Open(ct).ConfigureAwait(false);
                var system = await conn.IdentifySystem(ct).ConfigureAwait(false);
                report.Add(new("replication", subject, Ok,
                    $"replication connection works (system {system.SystemId}, timeline {system.Timeline})", null));
            }
        }
        catch (NpgsqlException ex)
        {
            report.Add(new("replication", subject, Error, $"replication connection refused: {ex.Message}",
                $"allow it in pg_hba.conf: a 'host replication {s.Role} <address> scram-sha-256' line, then SELECT pg_reload_conf()"));
        }
    }

    private static CheckResult SlotCheck(ClusterOptions cluster, CheckQueries.SlotState? slot, string subject)
    {
        var name = cluster.SlotName;
        if (slot is null)
        {
            return new("slot", subject, Warning, $"replication slot '{name}' does not exist yet: until it does, the server keeps no WAL for PgVault",
                "start 'pgvault serve' (it creates the slot), or run 'pgvault backup --cluster " + cluster.Id + "'");
        }

        if (!string.Equals(slot.SlotType, "physical", StringComparison.Ordinal))
        {
            return new("slot", subject, Error, $"replication slot '{name}' is a {slot.SlotType} slot; PgVault streams through a physical one",
                $"SELECT pg_drop_replication_slot('{name}'), or set the cluster's ReplicationSlot to another name");
        }

        if (slot.WalStatus == "lost")
        {
            return new("slot", subject, Error, $"replication slot '{name}' lost WAL (wal_status = lost): the backup's WAL has a gap",
                "no restore can cross the gap: take a new base backup, consider a larger max_slot_wal_keep_size, " +
                "and see docs/OPERATIONS.md (Replication slot and disk space)");
        }

        var status = slot.WalStatus is null ? "" : $", wal_status = {slot.WalStatus}";
        if (slot.WalStatus == "unreserved")
        {
            return new("slot", subject, Warning, $"replication slot '{name}' is about to lose WAL (wal_status = unreserved)",
                "make sure 'pgvault serve' runs and streams; max_slot_wal_keep_size is nearly reached");
        }

        return new("slot", subject, Ok, slot.Active
            ? $"replication slot '{name}' exists and is active{status}"
            : $"replication slot '{name}' exists, inactive (no 'pgvault serve' streams it now){status}", null);
    }

    private static CheckResult KeepSizeCheck(CheckQueries.ServerSettings s, string subject)
    {
        if (s.MaxSlotWalKeepSize is null)
            return new("max_slot_wal_keep_size", subject, Ok, "max_slot_wal_keep_size does not exist before PostgreSQL 13: slots keep WAL without bound", null);
        if (s.MaxSlotWalKeepSize.Trim() == "-1")
        {
            return new("max_slot_wal_keep_size", subject, Warning,
                "max_slot_wal_keep_size = -1 (unbounded): while PgVault is down the slot keeps all WAL, which can fill the database server's disk",
                "set max_slot_wal_keep_size (e.g. '50GB', below the free space of pg_wal's disk) and SELECT pg_reload_conf(); " +
                "docs/OPERATIONS.md explains the trade-off");
        }

        return new("max_slot_wal_keep_size", subject, Ok, $"max_slot_wal_keep_size = {s.MaxSlotWalKeepSize}", null);
    }

    /// <summary>
    /// The slot is active, so a <c>pgvault serve</c> streams this cluster: a forced WAL switch must reach the repository
    /// (the cluster's active chain) within <paramref name="timeout"/>.
    /// </summary>
    private static async Task<CheckResult> WalSwitchCheckAsync(ClusterOptions cluster, NpgsqlConnection conn, IObjectStore? store,
        TimeSpan timeout, string subject, CancellationToken ct)
    {
        if (store is null)
            return new("wal_switch", subject, Error, $"skipped: location '{cluster.BackupLocation}' failed its check", "fix the location first");
        Lsn switched;
        try
        {
            switched = Lsn.Parse(await CheckQueries.SwitchWalAsync(conn, ct).ConfigureAwait(false));
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            return new("wal_switch", subject, Warning, $"skipped: the role may not call pg_switch_wal(): {ex.MessageText}",
                "GRANT EXECUTE ON FUNCTION pg_switch_wal() TO the role, or run check as a superuser");
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var durable = Lsn.Zero;
        while (true)
        {
            var chains = await RepositoryScanner.ScanAsync(store, cluster.Id, ct).ConfigureAwait(false);
            durable = chains.Count == 0 ? Lsn.Zero : chains.Max(c => c.DurableEnd);
            if (durable >= switched)
            {
                return new("wal_switch", subject, Ok,
                    $"a forced WAL switch at {switched} reached location '{cluster.BackupLocation}' in {clock.Elapsed.TotalSeconds:0.0} s", null);
            }

            if (clock.Elapsed >= timeout)
                break;
            await Task.Delay(TimeSpan.FromMilliseconds(250), ct).ConfigureAwait(false);
        }

        return new("wal_switch", subject, Error,
            $"a forced WAL switch at {switched} did not reach location '{cluster.BackupLocation}' within {timeout.TotalSeconds:0} s (WAL there ends at {durable})",
            "read the log of 'pgvault serve' for streaming errors, and check that the slot's reader is this PgVault");
    }

    private static async Task WriteAsync(List<CheckResult> report, bool json)
    {
        if (json)
        {
            var document = new CheckReport(JsonVersion, !report.Any(r => r.Status == Error),
                report.Count(r => r.Status == Error), report.Count(r => r.Status == Warning), report);
            await Console.Out.WriteLineAsync(JsonSerializer.Serialize(document, Indented)).ConfigureAwait(false);
            return;
        }

        foreach (var r in report)
        {
            var line = $"{r.Status,-7} {r.Subject}: {r.Check}: {r.Message}";
            if (r.Fix is not null)
                line += $" (fix: {r.Fix})";
            await Console.Out.WriteLineAsync(line).ConfigureAwait(false);
        }

        var errors = report.Count(r => r.Status == Error);
        var warnings = report.Count(r => r.Status == Warning);
        await Console.Out.WriteLineAsync($"check: {report.Count - errors - warnings} ok, {warnings} warning(s), {errors} error(s)").ConfigureAwait(false);
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The <c>--output json</c> document.</summary>
    private sealed record CheckReport(
        [property: JsonPropertyName("version")] int Version,
        [property: JsonPropertyName("ok")] bool Ok,
        [property: JsonPropertyName("errors")] int Errors,
        [property: JsonPropertyName("warnings")] int Warnings,
        [property: JsonPropertyName("checks")] IReadOnlyList<CheckResult> Checks);

    private static int Fail(System.CommandLine.Parsing.ArgumentResult result, string message)
    {
        result.AddError(message);
        return 0;
    }
}

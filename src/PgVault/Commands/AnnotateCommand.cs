using System.CommandLine;
using System.Globalization;
using PgVault.Catalog;
using PgVault.Engine.Repository;
using PgVault.Hosting;
using PgVault.Text;

namespace PgVault.Commands;

/// <summary>
/// <c>pgvault annotate --backup-id ID --label LABEL [--keep|--no-keep] [key=value…]</c>: marks one complete base backup of a
/// backup as kept (expiry never deletes it, nor the WAL from its start to its stop LSN) or not, and sets or removes
/// (<c>key=</c>) free annotations. Written to the base backup's own <c>annotation.json</c> in the repository; shown by
/// <c>pgvault info</c>, the API's base backup listing and <c>pgvault expire --dry-run</c>.
/// </summary>
public static class AnnotateCommand
{
    /// <summary>Longest annotation key and value accepted.</summary>
    public const int MaxKeyLength = 64, MaxValueLength = 1024;

    public static Command Create()
    {
        var config = Cli.ConfigOption();
        var backupId = new Option<string>("--backup-id")
        {
            Description = "The backup the base backup belongs to, e.g. --backup-id 6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f-0000019a2b3c4d5e-15",
            HelpName = "ID",
            Required = true,
        };
        var label = new Option<string>("--label")
        {
            Description = "The base backup's label, as pgvault info shows it, e.g. --label 20261201T020000123Z",
            HelpName = "LABEL",
            Required = true,
        };
        var keep = new Option<bool>("--keep") { Description = "Expiry never deletes this base backup, nor the WAL that makes it consistent" };
        var noKeep = new Option<bool>("--no-keep") { Description = "Expiry treats it as any other base backup again (default: keep as it was)" };
        var annotations = new Argument<string[]>("key=value")
        {
            Description = "Annotations to set, e.g. ticket=OPS-42 \"purpose=year-end audit\"; key= removes one",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var command = new Command("annotate",
            "Keep a base backup from expiry (--keep, --no-keep) and set annotations on it (key=value); exit 1 when it is not found")
        {
            config, backupId, label, keep, noKeep, annotations,
        };
        annotations.Validators.Add(r =>
        {
            foreach (var token in r.Tokens.Select(t => t.Value))
            {
                if (token.StartsWith('-'))
                {
                    var name = token.Split('=', 2)[0];
                    var near = Suggestions.Closest(name, command.Options.Where(o => !o.Hidden).Select(o => o.Name));
                    r.AddError($"unknown option '{name}' for 'pgvault annotate'" + (near is null ? "" : $"; did you mean '{near}'?"));
                }
                else if (Parse(token) is null)
                {
                    r.AddError($"annotation '{token}' is not key=value with a key of letters, digits, '.', '_' or '-' (at most {MaxKeyLength}) " +
                               $"and a value of at most {MaxValueLength} printable characters, e.g. ticket=OPS-42");
                }
            }
        });
        command.Validators.Add(r =>
        {
            if (r.GetValue(keep) && r.GetValue(noKeep))
                r.AddError("--keep and --no-keep exclude each other: give one");
        });
        command.SetAction(async (result, ct) =>
        {
            var options = Cli.LoadOptions(result, config);
            var id = result.GetValue(backupId)!;
            var name = result.GetValue(label)!;
            if (!BackupId.TryParse(id, out var parsed))
            {
                await Console.Error.WriteLineAsync($"pgvault: '{id}' is not a PgVault backup id (<clusterId>-<chain>-<major>); 'pgvault info' lists them")
                    .ConfigureAwait(false);
                return Cli.ExitFailure;
            }

            var stores = new LocationStores(options);
            foreach (var location in options.Locations.Keys)
            {
                var repository = new ChainRepository(stores.Get(location), parsed.ClusterId, parsed.ChainId);
                if (await repository.ReadChainAsync(ct).ConfigureAwait(false) is not { } chain || !string.Equals(chain.BackupId, id, StringComparison.Ordinal))
                    continue;
                if (await repository.ReadBaseBackupAsync(name, ct).ConfigureAwait(false) is null
                    || !await repository.IsBaseBackupCompleteAsync(name, ct).ConfigureAwait(false))
                {
                    await Console.Error.WriteLineAsync(
                        $"pgvault: backup '{id}' has no complete base backup '{name}' in location '{location}'; 'pgvault info --backup-id {id}' lists its base backups")
                        .ConfigureAwait(false);
                    return Cli.ExitFailure;
                }

                var existing = await repository.ReadAnnotationAsync(name, ct).ConfigureAwait(false);
                var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
                foreach (var (k, v) in existing?.Annotations ?? new Dictionary<string, string>(StringComparer.Ordinal))
                    values[k] = v;
                foreach (var (k, v) in (result.GetValue(annotations) ?? []).Select(t => Parse(t)!.Value))
                {
                    if (v.Length == 0)
                        values.Remove(k);
                    else
                        values[k] = v;
                }

                var kept = result.GetValue(keep) || (!result.GetValue(noKeep) && existing?.Keep == true);
                var annotation = new BaseBackupAnnotation { Label = name, Keep = kept, Annotations = values, UpdatedAt = DateTimeOffset.UtcNow };
                await repository.WriteAnnotationAsync(annotation, ct).ConfigureAwait(false);
                await Console.Out.WriteLineAsync(
                    $"base backup {name} of {id} in location '{location}': {(kept ? "kept" : "not kept")}" +
                    (values.Count == 0 ? ", no annotations" : ", " + string.Join(", ", values.Select(kv => $"{kv.Key}={kv.Value}")))).ConfigureAwait(false);
                return 0;
            }

            await Console.Error.WriteLineAsync($"pgvault: backup '{id}' not found in any configured location ({string.Join(", ", options.Locations.Keys)})")
                .ConfigureAwait(false);
            return Cli.ExitFailure;
        });
        return command;
    }

    /// <summary><c>key=value</c> split, or null when the key or value is not acceptable (an empty value removes the key).</summary>
    public static (string Key, string Value)? Parse(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var at = token.IndexOf('=', StringComparison.Ordinal);
        if (at <= 0 || at > MaxKeyLength)
            return null;
        var key = token[..at];
        var value = token[(at + 1)..];
        if (key.AsSpan().ContainsAnyExcept("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") || value.Length > MaxValueLength
            || value.Any(char.IsControl))
            return null;
        return (key, value);
    }
}

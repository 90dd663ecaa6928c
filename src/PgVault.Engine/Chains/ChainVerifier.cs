using PgVault.Engine.Compression;
using PgVault.Engine.Repository;
using PgVault.Postgres;
using PgVault.Storage;
using ZstdSharp;

namespace PgVault.Engine.Chains;

/// <summary>One finding of <see cref="ChainVerifier"/>: a problem (the chain is not fully restorable) or a note.</summary>
public sealed record VerifyFinding(bool IsProblem, string Message);

/// <summary>What <see cref="ChainVerifier"/> found in one chain.</summary>
public sealed record VerifyReport(string BackupId, int ObjectsChecked, long BytesChecked, IReadOnlyList<VerifyFinding> Findings)
{
    public bool Ok => Findings.All(f => !f.IsProblem);
}

/// <summary>
/// Re-reads every object of a chain: decompresses it and checks its SHA-256 and size against its key or its base
/// backup's metadata (parts, manifest, block map); then checks that every base backup an incremental one is restored
/// over is present, complete, undamaged and of the same chain of references, and that the WAL is continuous from each
/// complete base backup's start to the chain's end. Each problem names the object, or the missing segment and the LSN
/// range it covers; a damaged or missing base backup that others are restored over names every one of them.
/// </summary>
public static class ChainVerifier
{
    public static async Task<VerifyReport> VerifyAsync(IObjectStore store, ScannedChain chain, IProgress<string>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(chain);
        var findings = new List<VerifyFinding>();
        var objects = 0;
        long bytes = 0;
        if (chain.Metadata is null)
        {
            findings.Add(new VerifyFinding(true, $"chain '{chain.ChainId}' of cluster '{chain.ClusterId}' has no chain.json"));
            return new VerifyReport(chain.ChainId, 0, 0, findings);
        }

        // Every object is read through the same verifying stream as restores read it (SHA-256 and size at its end).
        // False when the object is damaged or missing.
        async Task<bool> CheckAsync(string key, Func<Task<VerifyingReadStream>> open, Func<Task<bool>>? replaced = null)
        {
            objects++;
            progress?.Report(key);
            try
            {
                var verified = await open().ConfigureAwait(false);
                await using (verified.ConfigureAwait(false))
                    await verified.CopyToAsync(Stream.Null, ct).ConfigureAwait(false);
                bytes += verified.Bytes;
                return true;
            }
            catch (Errors.PgVaultException ex) when (ex.Code == Errors.ErrorCode.ObjectCorrupt)
            {
                findings.Add(new VerifyFinding(true, $"corrupt object '{key}': {ex.Message[(ex.Message.IndexOf(": ", StringComparison.Ordinal) + 2)..]}"));
                return false;
            }
            catch (Exception ex) when (ex is ZstdException or InvalidDataException or IOException or Errors.PgVaultException)
            {
                if (ex is ObjectNotFoundException && replaced is not null && await replaced().ConfigureAwait(false))
                {
                    objects--;
                    return true;
                }

                findings.Add(new VerifyFinding(true, $"corrupt or unreadable object '{key}': {ex.Message}"));
                return false;
            }
        }

        var repository = new ChainRepository(store, chain.ClusterId, chain.ChainId);
        foreach (var w in chain.Wal)
        {
            // A piece that vanished since the listing, of a segment now stored whole, was replaced by the streamer
            // (verify running beside serve): not a finding. The whole segment is checked when the chain is verified next.
            await CheckAsync(w.Key, () => ChainRepository.OpenWalAsync(store, w, ct), w.Partial
                ? async () => await repository.FindWalSegmentAsync(w.Timeline, WalSegment.Name(w.Timeline, w.Segment), ct).ConfigureAwait(false) is not null
                : null).ConfigureAwait(false);
        }

        var damaged = new HashSet<string>(StringComparer.Ordinal);
        foreach (var b in chain.BaseBackups)
        {
            if (!b.Complete)
            {
                findings.Add(new VerifyFinding(false, $"base backup {b.Label} is incomplete (no completion marker): it is not restorable and is ignored"));
                continue;
            }

            var m = b.Metadata!;
            foreach (var part in m.Parts.Append(m.Manifest).Concat(m.BlockMap is { } map ? new[] { map } : Array.Empty<BaseBackupPart>()))
            {
                if (!await CheckAsync(part.Key, () => part.OpenVerifiedAsync(store, ct)).ConfigureAwait(false))
                    damaged.Add(b.Label);
            }
        }

        findings.AddRange(CheckReferences(chain.BaseBackups, damaged));

        // Continuity: every segment from each complete base backup's start up to the chain's end.
        var end = chain.DurableEnd;
        var whole = chain.CompleteSegments();
        var lastSegment = WalSegment.Number(end);
        foreach (var b in chain.BaseBackups.Where(b => b.Complete))
        {
            var start = Lsn.Parse(b.Metadata!.StartLsn);
            var backupEnd = Lsn.Parse(b.Metadata.EndLsn);
            if (backupEnd > end)
            {
                findings.Add(new VerifyFinding(true,
                    $"base backup {b.Label} needs WAL up to {backupEnd}, but the chain's contiguous WAL ends at {end}"));
            }

            // A kept base backup before the chain's WAL start needs its own WAL only (start to stop), not the rest.
            var needed = start < chain.WalStart ? Math.Min(lastSegment, WalSegment.Number(backupEnd) + 1) : lastSegment;
            for (var n = WalSegment.Number(start); n < needed; n++)
            {
                if (!whole.Contains(n))
                {
                    findings.Add(new VerifyFinding(true,
                        $"missing WAL segment {WalSegment.Name(chain.Timeline, n)} ({WalSegment.Start(n)} to {WalSegment.Start(n + 1)}), " +
                        $"needed to restore base backup {b.Label}"));
                }
            }
        }

        // WAL stored beyond the break is unreachable: the break itself is a missing segment.
        if (chain.Wal.Any(w => w.Segment > lastSegment))
        {
            findings.Add(new VerifyFinding(true,
                $"missing WAL segment {WalSegment.Name(chain.Timeline, lastSegment)} ({WalSegment.Start(lastSegment)} to " +
                $"{WalSegment.Start(lastSegment + 1)}): the chain's WAL breaks at {end} although later WAL is stored"));
        }

        if (!chain.BaseBackups.Any(b => b.Complete))
            findings.Add(new VerifyFinding(true, "the chain has no complete base backup: nothing in it is restorable"));
        foreach (var key in chain.UnknownKeys)
            findings.Add(new VerifyFinding(false, $"unexpected object '{key}' (not part of the layout)"));
        return new VerifyReport(chain.Metadata.BackupId, objects, bytes, findings.DistinctBy(f => f.Message, StringComparer.Ordinal).ToList());
    }

    /// <summary>
    /// The dependency chain of incremental base backups (pure): every base backup one is restored over must be present,
    /// complete and undamaged, and its own references the same as the first ones of the incremental one (what the restore
    /// applies, in order). One problem per base backup that others need and cannot have, naming all of them; one per
    /// incremental base backup whose references do not agree.
    /// </summary>
    /// <param name="baseBackups">The chain's base backups.</param>
    /// <param name="damaged">Labels of complete base backups with a corrupt or missing object.</param>
    internal static IEnumerable<VerifyFinding> CheckReferences(IReadOnlyList<ScannedBaseBackup> baseBackups, IReadOnlySet<string> damaged)
    {
        var byLabel = baseBackups.ToDictionary(b => b.Label, StringComparer.Ordinal);
        var dependents = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var b in baseBackups.Where(b => b.Complete).OrderBy(b => b.Label, StringComparer.Ordinal))
        {
            var references = b.Metadata!.References ?? [];
            foreach (var label in references)
            {
                if (!dependents.TryGetValue(label, out var list))
                    dependents[label] = list = [];
                list.Add(b.Label);
            }

            if (references.Count > 0 && byLabel.TryGetValue(references[^1], out var direct) && direct is { Complete: true, Metadata: { } dm }
                && !(dm.References ?? []).SequenceEqual(references.Take(references.Count - 1), StringComparer.Ordinal))
            {
                yield return new VerifyFinding(true,
                    $"base backup {b.Label} is restored over {string.Join(", ", references)}, but {direct.Label} is itself restored over " +
                    $"{((dm.References ?? []) is { Count: > 0 } r ? string.Join(", ", r) : "nothing")}: the chain of references is inconsistent");
            }
        }

        foreach (var (label, needers) in dependents)
        {
            var names = string.Join(", ", needers);
            if (!byLabel.TryGetValue(label, out var reference))
            {
                yield return new VerifyFinding(true,
                    $"base backup {label} is missing, but base backups {names} are restored over it: they cannot be restored");
            }
            else if (!reference.Complete)
            {
                yield return new VerifyFinding(true,
                    $"base backup {label} is incomplete, but base backups {names} are restored over it: they cannot be restored");
            }
            else if (damaged.Contains(label))
            {
                yield return new VerifyFinding(true,
                    $"base backup {label} is damaged (see the objects above), and base backups {names} are restored over it: they cannot be restored either");
            }
        }
    }
}

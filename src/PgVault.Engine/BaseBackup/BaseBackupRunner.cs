using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Engine.Postgres;
using PgVault.Engine.Repository;
using PgVault.Errors;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Engine.Compression;
using PgVault.Engine.Telemetry;

namespace PgVault.Engine.BaseBackup;

/// <summary>Progress of a running base backup.</summary>
/// <param name="BytesDone">Database bytes copied so far.</param>
/// <param name="BytesTotalEstimate">Size of all databases when the backup started (an estimate of the total).</param>
/// <param name="BytesPerSecond">Average rate so far.</param>
/// <param name="Remaining">Estimated time left, or null when unknown.</param>
public readonly record struct BaseBackupProgress(long BytesDone, long BytesTotalEstimate, double BytesPerSecond, TimeSpan? Remaining);

/// <summary>
/// Takes a base backup of a cluster into its active chain: by running <c>BASE_BACKUP</c> on its own replication
/// connection (<see cref="BaseBackupMethod.Native"/>, see <see cref="BaseBackupProtocol"/>) or by driving
/// <c>pg_basebackup -D - -Ft</c>, which streams the tar to PgVault (<see cref="BaseBackupMethod.PgBasebackup"/>). WAL is
/// left to the streamer. The server verifies data-page checksums while it sends them (when the cluster has them) and
/// its <c>backup_manifest</c> becomes the tar's last member. The tar is cut into parts, compressed and checksummed as it
/// flows, so memory stays bounded whatever the database size; or, with <see cref="BaseBackupCompression.Server"/>, the
/// server's zstd stream is stored as it arrives, as one part with the SHA-256 of its stored bytes. Objects are written in the order
/// parts → manifest → <c>backup.json</c> → <c>backup.complete</c>: without the last, a base backup does not exist.
/// </summary>
public sealed class BaseBackupRunner(ClusterChain chain, ICatalog catalog, EngineOptions engine, TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(10);

    /// <summary>Called once the base backup is recorded RUNNING in the catalog (its label chosen), before any data is copied.</summary>
    public Action<BaseBackupRecord>? Started { get; init; }

    /// <summary>
    /// Takes a base backup. <paramref name="type"/> null: a full one as configured (the server compresses where it can);
    /// a type: PgVault reads the uncompressed tar, records a block map and, for <see cref="BaseBackupType.Diff"/> and
    /// <see cref="BaseBackupType.Incr"/>, stores only what changed since the reference (<see cref="IncrementalPlanner"/>;
    /// a full one, logged, when there is none).
    /// </summary>
    public async Task<BaseBackupRecord> RunAsync(IProgress<BaseBackupProgress>? progress, CancellationToken ct, BaseBackupType? type = null)
    {
        var current = chain.Current ?? throw new PgVaultException(ErrorCode.BaseBackupFailed,
            $"cluster '{chain.Cluster.Id}' has no active backup yet: WAL streaming has not connected",
            "check that the cluster is reachable with its ConnectionString and allows replication connections");
        var chainId = ClusterChain.ChainIdOf(current);
        var startedAt = time.GetUtcNow();
        var label = startedAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture);
        var record = new BaseBackupRecord
        {
            BackupId = current.Id,
            Label = label,
            State = BaseBackupState.Running,
            Type = (type ?? BaseBackupType.Full).Name(),
            Timeline = current.Timeline ?? 1,
            StartedAt = startedAt,
        };
        await catalog.SaveBaseBackupAsync(record, ct).ConfigureAwait(false);
        await chain.RefreshAsync(ct).ConfigureAwait(false);
        logger.LogInformation("cluster {Cluster}: base backup {Label} of {Backup} started", chain.Cluster.Id, label, current.Id);
        Started?.Invoke(record);

        Process? process = null;
        BaseBackupProtocol? native = null;
        var work = Path.Combine(Path.GetTempPath(), $"pgvault-blockmap-{Guid.NewGuid():N}");
        BlockMapFile? reference = null;
        try
        {
            var repository = new ChainRepository(chain.Store, chain.Cluster.Id, chainId);
            var choice = new IncrementalChoice(BaseBackupType.Full, null, [], null);
            if (type is { } requested and not BaseBackupType.Full)
            {
                var scanned = await repository.ScanAsync(ct).ConfigureAwait(false);
                choice = IncrementalPlanner.Choose(requested, scanned?.BaseBackups ?? []);
                if (choice.FallbackReason is { } reason)
                {
                    logger.LogWarning("cluster {Cluster}: base backup {Label} is taken full instead of {Type}: {Reason}",
                        chain.Cluster.Id, label, requested.Name(), reason);
                    record = record with { Type = choice.Type.Name() };
                    await catalog.SaveBaseBackupAsync(record, ct).ConfigureAwait(false);
                }
            }

            // A block map needs the uncompressed tar: asked for a type, PgVault compresses (the server's stream is never opened).
            var wantsTar = type is not null;
            Directory.CreateDirectory(work);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            if (choice.Reference is { } referenceBackup)
            {
                reference = await repository.DownloadBlockMapAsync(referenceBackup.Metadata!, Path.Combine(work, "reference"), ct).ConfigureAwait(false);
                logger.LogInformation("cluster {Cluster}: base backup {Label} is {Type}, compared with {Reference} ({Files} files in its block map)",
                    chain.Cluster.Id, label, choice.Type.ToString().ToLowerInvariant(), referenceBackup.Label, reference.Count);
            }

            var mapPath = Path.Combine(work, "blockmap");
            using var map = new BlockMapWriter(new FileStream(mapPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16));
            var mapBuilder = reference is null ? new BlockMapBuilder(map) : null;
            DeltaStatistics? delta = null;
            var estimate = await EstimateSizeAsync(ct).ConfigureAwait(false);
            var tap = new TarTap(new HashSet<string>(["backup_label", "backup_manifest", "global/pg_control", "PG_VERSION"], StringComparer.Ordinal),
                files: mapBuilder);
            var observer = new Observer(logger, chain.Cluster.Id, label, tap, estimate, progress);
            List<BaseBackupPart> parts;
            byte[]? serverManifest = null;
            (Lsn, uint)? serverStart = null;
            long? databaseBytes = null;
            if (engine.BaseBackupMethod == BaseBackupMethod.PgBasebackup)
            {
                process = StartPgBasebackup(label, PostgresMajor.Require(current.Version, $"cluster '{chain.Cluster.Id}'"));
                var stderr = process.StandardError.ReadToEndAsync(ct);
                if (reference is not null)
                    (parts, delta) = await PumpDeltaAsync(process.StandardOutput.BaseStream, chainId, label, observer, reference, map, ct).ConfigureAwait(false);
                else
                    parts = await PumpPartsAsync(process.StandardOutput.BaseStream, chainId, label, observer, ct).ConfigureAwait(false);
                await process.WaitForExitAsync(ct).ConfigureAwait(false);
                var errors = await stderr.ConfigureAwait(false);
                if (process.ExitCode != 0)
                {
                    throw new PgVaultException(ErrorCode.BaseBackupFailed,
                        $"pg_basebackup of cluster '{chain.Cluster.Id}' failed (exit {process.ExitCode}): {errors.Trim()}",
                        errors.Contains("checksum", StringComparison.OrdinalIgnoreCase)
                            ? "the server found data pages whose checksums do not match: the cluster has corrupt data" : null);
                }
            }
            else
            {
                var major = PostgresMajor.Require(current.Version, $"cluster '{chain.Cluster.Id}'");
                var expected = current.SystemIdentifier is { } systemIdentifier
                    ? new ExpectedCluster(systemIdentifier, $"backup '{current.Id}' of cluster '{chain.Cluster.Id}'")
                    : null;
                // Auto on a major without server-side compression (14): PgVault compresses, without asking the server first.
                var serverCompression = !wantsTar && (engine.BaseBackupCompression == BaseBackupCompression.Server
                                                      || (engine.BaseBackupCompression == BaseBackupCompression.Auto && major.ServerCompression))
                    ? string.Create(CultureInfo.InvariantCulture, $"level={engine.CompressionLevel}") +
                      (engine.CompressionWorkers > 0 ? string.Create(CultureInfo.InvariantCulture, $",workers={engine.CompressionWorkers}") : "")
                    : null;
                try
                {
                    native = await BaseBackupProtocol.StartAsync(chain.Cluster.ConnectionString, major, $"pgvault {label}", serverCompression,
                        engine.BaseBackupManifestChecksums, expected, ct).ConfigureAwait(false);
                }
                catch (PgVaultException ex) when (engine.BaseBackupCompression == BaseBackupCompression.Auto && serverCompression is not null
                                                  && PostgresErrors.ServerCannotCompress(ex))
                {
                    // A server without zstd (built without it, or older than 15): PgVault compresses instead.
                    logger.LogWarning("cluster {Cluster}: the server cannot compress the base backup ({Error}); PgVault compresses it",
                        chain.Cluster.Id, ex.Message);
                    serverCompression = null;
                    native = await BaseBackupProtocol.StartAsync(chain.Cluster.ConnectionString, major, $"pgvault {label}", null,
                        engine.BaseBackupManifestChecksums, expected, ct).ConfigureAwait(false);
                }

                if (serverCompression is null)
                {
                    var tar = new RetailedTarStream(native.Archive, async c => BaseBackupProtocol.TarTail(
                        await native.FinishAsync(c).ConfigureAwait(false), time.GetUtcNow()));
                    if (reference is not null)
                        (parts, delta) = await PumpDeltaAsync(tar, chainId, label, observer, reference, map, ct).ConfigureAwait(false);
                    else
                        parts = await PumpPartsAsync(tar, chainId, label, observer, ct).ConfigureAwait(false);
                }
                else
                {
                    var part = await PumpServerCompressedAsync(native, chainId, label, observer, ct).ConfigureAwait(false);
                    serverManifest = await native.FinishAsync(ct).ConfigureAwait(false);
                    var fileBytes = ManifestFileBytes(serverManifest);
                    databaseBytes = fileBytes;
                    parts = [part with { SizeBytes = fileBytes }];
                    serverStart = (native.StartLsn, native.Timeline);
                }
            }

            observer.Done();
            var nextXid = await ReadNextXidAsync(ct).ConfigureAwait(false);
            var members = tap.Members;
            CheckSameCluster(current, members);
            // With the server's compression PgVault does not look into the tar: the manifest comes beside it (its end cannot
            // be cut out of the zstd stream), the start from BASE_BACKUP's first result.
            byte[]? labelBytes = null;
            if (!(members.TryGetValue("backup_manifest", out var manifestBytes) || (manifestBytes = serverManifest) is not null) ||
                (serverStart is null && !members.TryGetValue("backup_label", out labelBytes)))
                throw new PgVaultException(ErrorCode.BaseBackupFailed, "the base backup's tar has no backup_label or backup_manifest");
            var (startLsn, timeline) = serverStart ?? TarTap.ParseBackupLabel(Encoding.UTF8.GetString(labelBytes!));
            var endLsn = ManifestEndLsn(manifestBytes);
            databaseBytes ??= tap.BytesSeen;
            var completedAt = time.GetUtcNow();
            if (current.StartLsn is { } chainStart && startLsn.Value < chainStart)
            {
                throw new PgVaultException(ErrorCode.BaseBackupFailed,
                    $"base backup {label} starts at {startLsn}, before the WAL of backup {current.Id} (from {new Lsn(chainStart)}): it could not be restored",
                    "this happens with a standby whose last restartpoint predates the backup's start; take another base backup after its next restartpoint");
            }


            var manifest = await repository.WriteBaseBackupManifestAsync(label, manifestBytes, engine.CompressionLevel, ct).ConfigureAwait(false);
            // A block map only when every file passed through it (not for the server's compressed stream).
            BaseBackupPart? blockMap = null;
            if (serverManifest is null)
            {
                if (mapBuilder is not null)
                    mapBuilder.Finish();
                map.Dispose();
                var mapFile = new FileStream(mapPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
                await using (mapFile.ConfigureAwait(false))
                    blockMap = await repository.WriteBlockMapAsync(label, mapFile, new ZstdCodec(engine.CompressionLevel, engine.CompressionWorkers), ct)
                        .ConfigureAwait(false);
            }

            var incremental = choice.Reference is not null;
            var metadata = new BaseBackupMetadata
            {
                FormatVersion = incremental ? RepositoryFormat.IncrementalBaseBackupVersion : RepositoryFormat.FullBaseBackupVersion,
                Type = choice.Type,
                References = incremental ? choice.References : null,
                BlockMap = blockMap,
                BackupId = current.Id,
                Label = label,
                Timeline = timeline,
                StartLsn = startLsn.ToString(),
                EndLsn = endLsn.ToString(),
                StartedAt = startedAt,
                CompletedAt = completedAt,
                DatabaseBytes = databaseBytes.Value,
                Parts = parts,
                Manifest = manifest,
                Compression = "zstd",
                NextXid = nextXid,
            };
            // The commit point: an instance that lost the cluster to another one of the fleet commits nothing.
            await chain.Fence.EnsureHeldAsync(ct).ConfigureAwait(false);
            await repository.CommitBaseBackupAsync(metadata, ct).ConfigureAwait(false);

            var stored = parts.Sum(p => p.StoredBytes) + manifest.StoredBytes + (blockMap?.StoredBytes ?? 0);
            if (delta is not null)
            {
                logger.LogInformation(
                    "cluster {Cluster}: base backup {Label} ({Type} of {Reference}): {BlocksChanged} of {BlocksRead} blocks changed, {FilesWhole} of {Files} files stored whole",
                    chain.Cluster.Id, label, choice.Type.ToString().ToLowerInvariant(), choice.Reference!.Label, delta.BlocksChanged, delta.BlocksRead,
                    delta.FilesWhole, delta.Files);
            }

            record = record with
            {
                State = BaseBackupState.Complete,
                Type = choice.Type.Name(),
                Timeline = (int)timeline,
                StartLsn = startLsn.Value,
                EndLsn = endLsn.Value,
                CompletedAt = completedAt,
                SizeBytes = stored,
                DatabaseBytes = databaseBytes.Value,
            };
            await catalog.SaveBaseBackupAsync(record, ct).ConfigureAwait(false);
            await chain.RefreshAsync(ct).ConfigureAwait(false);
            var duration = completedAt - startedAt;
            var seconds = Math.Max(0.001, duration.TotalSeconds);
            PgVaultMetrics.RecordBaseBackupCompleted(chain.Cluster.Id, duration, databaseBytes.Value);
            // The base backup's one log line; with JSON logs its figures are fields (bytes, seconds, bytes per second).
            logger.LogInformation(
                "cluster {Cluster}: base backup {Label} complete: {DatabaseBytes} bytes in {DurationSeconds:0.0} s " +
                "({BytesPerSecond:0} bytes/s), stored {StoredBytes} bytes, WAL {StartLsn} to {EndLsn}",
                chain.Cluster.Id, label, databaseBytes.Value, seconds, databaseBytes.Value / seconds, stored, startLsn.ToString(), endLsn.ToString());
            return record;
        }
        catch (Exception ex)
        {
            if (process is { HasExited: false })
                process.Kill(entireProcessTree: true);
            if (native is not null)
                await native.DisposeAsync().ConfigureAwait(false);
            native = null;
            record = record with { State = BaseBackupState.Failed, Error = ex.Message };
            try
            {
                await catalog.SaveBaseBackupAsync(record, CancellationToken.None).ConfigureAwait(false);
                await chain.RefreshAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception recordError)
            {
                logger.LogError(recordError, "cluster {Cluster}: could not record the failure of base backup {Label}", chain.Cluster.Id, label);
            }

            PgVaultMetrics.RecordBaseBackupFailed(chain.Cluster.Id);
            logger.LogError("cluster {Cluster}: base backup {Label} failed: {Error}", chain.Cluster.Id, label, ex.Message);
            if (ex is PgVaultException or OperationCanceledException)
                throw;
            throw new PgVaultException(ErrorCode.BaseBackupFailed, $"base backup {label} of cluster '{chain.Cluster.Id}' failed: {ex.Message}", null, ex);
        }
        finally
        {
            process?.Dispose();
            if (native is not null)
                await native.DisposeAsync().ConfigureAwait(false);
            reference?.Dispose();
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException ex)
            {
                logger.LogWarning("cluster {Cluster}: could not remove the block map work directory '{Directory}': {Error}", chain.Cluster.Id, work, ex.Message);
            }
        }
    }

    /// <summary>
    /// An incremental base backup: the tar (seen by the observer on the way: backup_label, manifest, progress) becomes a
    /// <see cref="DeltaStream"/> against <paramref name="reference"/>, cut into parts and compressed as it flows (a
    /// 4 MiB pipe between the two). The new block map goes to <paramref name="map"/>.
    /// </summary>
    private async Task<(List<BaseBackupPart> Parts, DeltaStatistics Statistics)> PumpDeltaAsync(Stream tar, string chainId, string label,
        Observer observer, BlockMapFile reference, BlockMapWriter map, CancellationToken ct)
    {
        var pipe = new System.IO.Pipelines.Pipe(new System.IO.Pipelines.PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var producing = Task.Run(async () =>
        {
            try
            {
                var output = new BufferedStream(pipe.Writer.AsStream(leaveOpen: true), 1 << 20);
                await using (output.ConfigureAwait(false))
                {
                    var statistics = await new DeltaStreamWriter(reference, map).WriteAsync(new ObservedStream(tar, observer.Observe), output, stop.Token)
                        .ConfigureAwait(false);
                    await output.FlushAsync(stop.Token).ConfigureAwait(false);
                    await pipe.Writer.CompleteAsync().ConfigureAwait(false);
                    return statistics;
                }
            }
            catch (Exception ex)
            {
                await pipe.Writer.CompleteAsync(ex).ConfigureAwait(false);
                throw;
            }
        }, CancellationToken.None);
        List<BaseBackupPart> parts;
        try
        {
            parts = await PumpPartsAsync(pipe.Reader.AsStream(), chainId, label, null, ct, delta: true).ConfigureAwait(false);
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await producing.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or PgVaultException or InvalidOperationException)
            {
                // the pump's failure is the one reported
            }

            throw;
        }

        return (parts, await producing.ConfigureAwait(false));
    }

    /// <summary>A read-through stream that shows every byte read to an observer.</summary>
    private sealed class ObservedStream(Stream source, PartObserver observe) : ReadOnlyStream
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = source.Read(buffer, offset, count);
            observe(buffer.AsSpan(offset, n));
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            observe(buffer.Span[..n]);
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <summary>
    /// The tar's <c>global/pg_control</c> and <c>PG_VERSION</c> (when PgVault sees the tar: not with the server's
    /// compression, where <c>IDENTIFY_SYSTEM</c> on the backup's own connection checked the same) are those of the chain's
    /// cluster: a base backup of another cluster (the ConnectionString re-pointed since WAL streaming connected) is refused
    /// before its manifest and marker are written, so it never exists in the chain.
    /// </summary>
    private void CheckSameCluster(BackupRecord current, IReadOnlyDictionary<string, byte[]> members)
    {
        if (members.TryGetValue("global/pg_control", out var control) && control.Length >= 8 && current.SystemIdentifier is { } expected)
        {
            var found = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(control).ToString(CultureInfo.InvariantCulture);
            if (!string.Equals(found, expected, StringComparison.Ordinal))
            {
                throw new PgVaultException(ErrorCode.BaseBackupFailed,
                    $"the base backup is of another cluster than backup '{current.Id}' of cluster '{chain.Cluster.Id}': its system identifier " +
                    $"is {found}, the backup's {expected}; it was not kept",
                    "the cluster's ConnectionString reaches another cluster than WAL streaming did (a name or port re-pointed, a " +
                    "re-initialised cluster); when streaming reconnects it starts a new backup for that cluster");
            }
        }

        if (members.TryGetValue("PG_VERSION", out var version) && current.Version is { } major
            && !string.Equals(Encoding.ASCII.GetString(version).Trim(), major, StringComparison.Ordinal))
        {
            throw new PgVaultException(ErrorCode.BaseBackupFailed,
                $"the base backup is of PostgreSQL {Encoding.ASCII.GetString(version).Trim()}, but backup '{current.Id}' of cluster " +
                $"'{chain.Cluster.Id}' is of PostgreSQL {major}; it was not kept",
                "pg_basebackup or the ConnectionString reaches another server than WAL streaming did");
        }
    }

    private Process StartPgBasebackup(string label, PostgresMajor major)
    {
        var bin = PostgresTools.RequirePgBasebackup(engine, major, chain.Cluster.Id);
        var (connInfo, password) = PostgresTools.ToLibpq(chain.Cluster.ConnectionString);
        var psi = new ProcessStartInfo(PostgresTools.Program(bin, "pg_basebackup"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     "-d", connInfo, "-D", "-", "-F", "t", "-X", "none", "--checkpoint=fast", "-l", $"pgvault {label}",
                     $"--manifest-checksums={BaseBackupProtocol.ManifestChecksumName(engine.BaseBackupManifestChecksums)}", "--no-sync",
                 })
        {
            psi.ArgumentList.Add(arg);
        }

        if (password is not null)
            psi.Environment["PGPASSWORD"] = password;
        return Process.Start(psi) ?? throw new PgVaultException(ErrorCode.BaseBackupFailed, "unable to start pg_basebackup");
    }

    /// <summary>Cuts the tar into parts of <see cref="EngineOptions.BaseBackupPartSizeBytes"/>, each compressed here.</summary>
    private async Task<List<BaseBackupPart>> PumpPartsAsync(Stream source, string chainId, string label, Observer? observer,
        CancellationToken ct, bool delta = false)
    {
        var parts = new List<BaseBackupPart>();
        var repository = new ChainRepository(chain.Store, chain.Cluster.Id, chainId);
        // An incremental base backup's parts hold only the changed blocks: worth a higher level (docs/INCREMENTAL.md).
        var codec = new ZstdCodec(delta ? engine.IncrementalCompressionLevel : engine.CompressionLevel, engine.CompressionWorkers);
        for (var index = 0; ; index++)
        {
            var part = new PartStream(source, engine.BaseBackupPartSizeBytes, observer is null ? static _ => { } : observer.Observe);
            if (await repository.WriteBaseBackupPartAsync(label, index, part, codec, ct, delta).ConfigureAwait(false) is not { } stored)
                break;
            parts.Add(stored);
            if (part.SourceEnded)
                break;
        }

        return parts;
    }

    /// <summary>
    /// Stores the server's zstd stream of the tar as it arrives (one part, whatever its size), with the SHA-256 of the
    /// stored bytes (<see cref="BaseBackupPart.StoredChecksum"/>): PgVault never decompresses it, which is what makes
    /// letting the server compress cheap. The tar is complete (with its end-of-archive blocks) but has no
    /// <c>backup_manifest</c> member: the manifest is stored beside it (restores write it into the data directory). The
    /// start position and timeline come from BASE_BACKUP's first result (not from the tar's backup_label), progress from
    /// the server's <c>pg_stat_progress_basebackup</c>.
    /// </summary>
    private async Task<BaseBackupPart> PumpServerCompressedAsync(BaseBackupProtocol native, string chainId, string label,
        Observer observer, CancellationToken ct)
    {
        using var stopProgress = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var polling = PollServerProgressAsync(native.BackendPid, observer, stopProgress.Token);
        try
        {
            // SizeBytes: filled in from the manifest once it has arrived.
            return await new ChainRepository(chain.Store, chain.Cluster.Id, chainId).WriteStoredBaseBackupPartAsync(label, native.Archive, ct)
                .ConfigureAwait(false);
        }
        finally
        {
            await stopProgress.CancelAsync().ConfigureAwait(false);
            await polling.ConfigureAwait(false);
        }
    }

    /// <summary>Reports the server's count of tar bytes sent (before its compression) every second; best effort.</summary>
    private async Task PollServerProgressAsync(int walsenderPid, Observer observer, CancellationToken ct)
    {
        try
        {
            await new PostgresServer(chain.Cluster.ConnectionString)
                .PollBaseBackupProgressAsync(walsenderPid, TimeSpan.FromSeconds(1), time, observer.Advance, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // the backup's data has all arrived
        }
        catch (NpgsqlException ex)
        {
            logger.LogDebug("cluster {Cluster}: no progress from pg_stat_progress_basebackup: {Error}", chain.Cluster.Id, ex.Message);
        }
    }

    /// <summary>Bytes of the files a <c>backup_manifest</c> lists (the data copied, tar headers not counted).</summary>
    internal static long ManifestFileBytes(byte[] manifest)
    {
        using var doc = JsonDocument.Parse(manifest);
        long total = 0;
        foreach (var file in doc.RootElement.GetProperty("Files").EnumerateArray())
            total += file.GetProperty("Size").GetInt64();
        return total;
    }

    /// <summary>Sees every tar byte once, in order: the tar tap, the progress reports and log lines.</summary>
    private sealed class Observer(ILogger logger, string cluster, string label, TarTap tap, long estimate, IProgress<BaseBackupProgress>? progress)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private TimeSpan _lastReport = TimeSpan.Zero;
        private TimeSpan _lastLog = TimeSpan.Zero;
        private long _done;

        public void Observe(ReadOnlySpan<byte> data)
        {
            tap.Observe(data);
            Advance(_done + data.Length);
        }

        /// <summary>The tar bytes done so far, when they are counted elsewhere (the server's progress view).</summary>
        public void Advance(long done)
        {
            _done = Math.Max(_done, done);
            var elapsed = _clock.Elapsed;
            if (progress is not null && elapsed - _lastReport >= TimeSpan.FromSeconds(1))
            {
                _lastReport = elapsed;
                progress.Report(Progress(_done, estimate, elapsed));
            }

            if (elapsed - _lastLog >= ProgressInterval)
            {
                _lastLog = elapsed;
                var p = Progress(_done, estimate, elapsed);
                logger.LogInformation(
                    "cluster {Cluster}: base backup {Label}: {Done:0} MB of ~{Total:0} MB, {Rate:0.0} MB/s, {Left} left",
                    cluster, label, _done / 1e6, estimate / 1e6, p.BytesPerSecond / 1e6,
                    p.Remaining is { } r ? $"{r.TotalSeconds:0} s" : "unknown");
            }
        }

        public void Done() =>
            progress?.Report(Progress(_done, Math.Max(_done, estimate), _clock.Elapsed) with { Remaining = TimeSpan.Zero });
    }

    /// <summary>At most <c>limit</c> bytes of the source, each passed to an observer on the way (the tar tap, progress).</summary>
    private sealed class PartStream(Stream source, long limit, PartObserver observe) : Stream
    {
        private long _read;

        /// <summary>True once the source returned end of stream.</summary>
        public bool SourceEnded { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => _read;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var want = (int)Math.Min(count, limit - _read);
            if (want <= 0 || SourceEnded)
                return 0;
            var n = source.Read(buffer, offset, want);
            if (n == 0)
            {
                SourceEnded = true;
                return 0;
            }

            observe(buffer.AsSpan(offset, n));
            _read += n;
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var want = (int)Math.Min(buffer.Length, limit - _read);
            if (want <= 0 || SourceEnded)
                return 0;
            var n = await source.ReadAsync(buffer[..want], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                SourceEnded = true;
                return 0;
            }

            observe(buffer.Span[..n]);
            _read += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private delegate void PartObserver(ReadOnlySpan<byte> data);

    private static BaseBackupProgress Progress(long done, long estimate, TimeSpan elapsed)
    {
        var rate = done / Math.Max(0.001, elapsed.TotalSeconds);
        TimeSpan? remaining = rate > 0 && estimate > done ? TimeSpan.FromSeconds((estimate - done) / rate) : null;
        return new BaseBackupProgress(done, estimate, rate, remaining);
    }

    /// <summary>
    /// The next xid (epoch in the high half) of the cluster's latest checkpoint, read once the base backup's data is
    /// through, so that checkpoint is the backup's start checkpoint or a later one (see
    /// <see cref="BaseBackupMetadata.NextXid"/>). Null when it cannot be read: restores to an xid then start from the
    /// chain's oldest base backup.
    /// </summary>
    private async Task<ulong?> ReadNextXidAsync(CancellationToken ct)
    {
        try
        {
            return await new PostgresServer(chain.Cluster.ConnectionString).NextXidAsync(ct).ConfigureAwait(false);
        }
        catch (NpgsqlException ex)
        {
            logger.LogWarning("cluster {Cluster}: could not read the next transaction id ({Error}); restores of this base backup to an xid start from an older one",
                chain.Cluster.Id, ex.Message);
            return null;
        }
    }

    private async Task<long> EstimateSizeAsync(CancellationToken ct)
    {
        try
        {
            return await new PostgresServer(chain.Cluster.ConnectionString).DatabaseSizeBytesAsync(ct).ConfigureAwait(false);
        }
        catch (NpgsqlException ex)
        {
            logger.LogWarning("cluster {Cluster}: could not estimate the database size ({Error}); progress shows no total", chain.Cluster.Id, ex.Message);
            return 0;
        }
    }

    /// <summary>The end of the last WAL range in PostgreSQL's backup_manifest (the backup's consistency point).</summary>
    public static Lsn ManifestEndLsn(byte[] manifest)
    {
        using var doc = JsonDocument.Parse(manifest);
        var ranges = doc.RootElement.GetProperty("WAL-Ranges");
        var last = ranges[ranges.GetArrayLength() - 1];
        return Lsn.Parse(last.GetProperty("End-LSN").GetString()!);
    }
}

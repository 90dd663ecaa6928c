using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Testing;

namespace PgVault.Engine.Tests;

/// <summary>
/// Writes a repository the way the engine lays it out (real keys, real <c>chain.json</c>/<c>backup.json</c>), with
/// stand-in content: WAL objects and base backup parts are small byte strings, not PostgreSQL data. Times come from a
/// <see cref="ManualClock"/> (which also stamps the in-memory store's LastModified). What this simulates is the
/// repository's shape over time; the real-PostgreSQL retention test restores for real.
/// </summary>
public sealed class SyntheticRepository(InMemoryObjectStore store, ManualClock clock, string clusterId)
{
    public const int WalObjectBytes = 100;
    public const int PartBytes = 1000;

    public InMemoryObjectStore Store => store;

    public ManualClock Clock => clock;

    public string ClusterId => clusterId;

    public string ChainId { get; private set; } = "";

    public string BackupId => $"{clusterId}-{ChainId}-15";

    /// <summary>The next segment the simulated server writes.</summary>
    public ulong Segment { get; private set; }

    public uint Timeline { get; private set; } = 1;

    private static CancellationToken Ct => Xunit.TestContext.Current.CancellationToken;

    public async Task StartChainAsync(string chainId, ulong firstSegment, uint timeline = 1)
    {
        ChainId = chainId;
        Segment = firstSegment;
        Timeline = timeline;
        var metadata = new ChainMetadata
        {
            BackupId = BackupId, ClusterId = clusterId, ChainId = chainId, SystemIdentifier = "7300000000000000001", Timeline = timeline,
            StartLsn = WalSegment.Start(firstSegment).ToString(), CreatedAt = clock.GetUtcNow(), PostgresMajor = "15", Location = "local",
        };
        await WriteAsync(RepositoryLayout.Chain(clusterId, chainId), MetadataJson.Serialize(metadata, MetadataJson.Default.ChainMetadata));
    }

    /// <summary>The server completes the current segment.</summary>
    public async Task WalAsync()
    {
        var name = WalSegment.Name(Timeline, Segment);
        await WriteAsync(RepositoryLayout.WalSegment(clusterId, ChainId, Timeline, name, new string('a', 64)), new byte[WalObjectBytes]);
        Segment++;
    }

    /// <summary>A durable piece of the current (head) segment.</summary>
    public Task PartialAsync(long endOffset) =>
        WriteAsync(RepositoryLayout.WalPartial(clusterId, ChainId, Timeline, WalSegment.Name(Timeline, Segment), 0, endOffset, new string('b', 64)),
            new byte[WalObjectBytes]);

    /// <summary>A promotion: the next segments are on <paramref name="timeline"/>, whose history file is stored.</summary>
    public async Task SwitchTimelineAsync(uint timeline)
    {
        var history = $"{Timeline}\t{WalSegment.Start(Segment)}\tno recovery target specified\n";
        await WriteAsync(RepositoryLayout.History(clusterId, ChainId, timeline), System.Text.Encoding.UTF8.GetBytes(history));
        Timeline = timeline;
    }

    /// <summary>
    /// A base backup starting in the current segment and consistent 10 minutes later (the clock moves on), inside that
    /// segment; <paramref name="complete"/> false leaves it without metadata and marker (a failed one).
    /// </summary>
    public async Task<BaseBackupMetadata> BaseBackupAsync(string label, bool complete = true, bool withMetadata = true,
        IReadOnlyList<string>? references = null, BaseBackupType type = BaseBackupType.Full)
    {
        var started = clock.GetUtcNow();
        var part = RepositoryLayout.BaseBackupPart(clusterId, ChainId, label, 0);
        await WriteAsync(part, new byte[PartBytes]);
        var manifest = RepositoryLayout.BaseBackupPrefix(clusterId, ChainId, label) + "backup_manifest.zst";
        await WriteAsync(manifest, new byte[PartBytes / 10]);
        clock.Advance(TimeSpan.FromMinutes(10));
        var metadata = new BaseBackupMetadata
        {
            BackupId = BackupId, Label = label, Timeline = Timeline, StartLsn = (WalSegment.Start(Segment) + 0x28).ToString(),
            EndLsn = (WalSegment.Start(Segment) + 0x10000).ToString(), StartedAt = started, CompletedAt = clock.GetUtcNow(), DatabaseBytes = 5000,
            Parts = [new BaseBackupPart(part, 5000, PartBytes, new string('c', 64))],
            Manifest = new BaseBackupPart(manifest, 500, PartBytes / 10, new string('d', 64)), Compression = "zstd",
            Type = type, References = references,
            FormatVersion = references is null ? RepositoryFormat.FullBaseBackupVersion : RepositoryFormat.IncrementalBaseBackupVersion,
        };
        if (complete || withMetadata)
            await WriteAsync(RepositoryLayout.BaseBackupMetadata(clusterId, ChainId, label), MetadataJson.Serialize(metadata, MetadataJson.Default.BaseBackupMetadata));
        if (complete)
            await WriteAsync(RepositoryLayout.BaseBackupComplete(clusterId, ChainId, label), []);
        return metadata;
    }

    public async Task<ScannedChain> ScanAsync(string? chainId = null) =>
        (await RepositoryScanner.ScanAsync(store, clusterId, Ct)).Single(c => c.ChainId == (chainId ?? ChainId));

    private async Task WriteAsync(string key, byte[] bytes)
    {
        using var content = new MemoryStream(bytes, writable: false);
        await store.WriteAsync(key, content, Ct);
    }
}

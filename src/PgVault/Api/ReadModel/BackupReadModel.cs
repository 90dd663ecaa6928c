using System.Collections.Concurrent;
using System.Diagnostics;
using PgVault.Catalog;
using PgVault.Catalog.Sql;
using PgVault.Configuration;

namespace PgVault.Api.ReadModel;

/// <summary>
/// The backups as the API lists them, in memory: every backup's JSON item already serialized (UTF-8, exactly the bytes
/// of the API's <c>BackupResponse</c>), in listing order (newest first, then id, ordinal) and per cluster. A page is a
/// slice of that order, written without a catalog query or any serialization (<see cref="Utf8JsonResult"/>).
/// </summary>
/// <remarks>
/// <para>Consistency. The model follows the catalog's change feed (<see cref="IBackupChangeFeed"/>). Before answering,
/// a request synchronises it when this process wrote backups since the last synchronisation (so its own writes are
/// always visible to the next request), or when the last look at the feed is older than
/// <see cref="ReadModelOptions.MaxStaleness"/> (other processes' writes). A look finds nothing new with one single-row
/// query; small changes are applied in place; a large backlog (more than <see cref="MaxInlineChanges"/>) or a lost one
/// (pruned deletions) reloads every backup in the background.</para>
/// <para>Whenever the model cannot answer for the catalog's current state — not loaded yet, reloading, turned off, or
/// over <see cref="ReadModelOptions.MaxBackups"/> — the read methods return null and the caller asks the catalog, which
/// is always current. So the model changes the cost of a request, never its answer (beyond the staleness bound).</para>
/// <para>Memory: one <see cref="BackupItem"/> per backup (its id, order key, cluster and JSON bytes; bench/README.md measures the
/// total), the order arrays and an id index; a reload builds the new model beside the old one (twice that, briefly).</para>
/// </remarks>
public sealed class BackupReadModel : IDisposable
{
    /// <summary>Above this many changes since the last synchronisation, the model is reloaded in the background.</summary>
    public const int MaxInlineChanges = 10_000;

    /// <summary>Loads of at least this many backups end with a compacting collection.</summary>
    private const int CompactAfterLoadBackups = 50_000;

    /// <summary>After a failed load, the next one starts no sooner than this.</summary>
    private static readonly TimeSpan ReloadBackoff = TimeSpan.FromSeconds(5);

    private readonly IBackupChangeFeed? _feed;
    private readonly Func<BackupRecord, byte[]> _serialize;
    private readonly ReadModelOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _sync = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly long _maxStalenessTicks;

    private volatile State? _state;
    private long _syncedLocalWrites = -1;
    private long _lastLookTimestamp;
    private int _loading;
    private long _lastFailedLoadTimestamp;
    private volatile bool _overLimit;

    /// <param name="catalog">The catalog; the model is off when it has no change feed.</param>
    /// <param name="serialize">The API's JSON of one backup (the item bytes).</param>
    /// <param name="options">Staleness bound and size limit.</param>
    /// <param name="time">The clock of the staleness bound.</param>
    /// <param name="logger">Loads, reloads and the size limit are logged.</param>
    public BackupReadModel(ICatalog catalog, Func<BackupRecord, byte[]> serialize, ReadModelOptions options, TimeProvider time,
        ILogger<BackupReadModel> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _feed = options.Enabled ? catalog as IBackupChangeFeed : null;
        _serialize = serialize;
        _options = options;
        _time = time;
        _logger = logger;
        _maxStalenessTicks = (long)(options.MaxStaleness.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>Backups held (0 while not loaded).</summary>
    public int Count => _state?.All.Length ?? 0;

    /// <summary>Bytes of the JSON items held.</summary>
    public long ItemBytes => _state?.ItemBytes ?? 0;

    /// <summary>True when the model holds the backups (it may still need a synchronisation before answering).</summary>
    public bool IsLoaded => _state is not null;

    /// <summary>Starts loading the backups in the background (serve calls it at start-up; requests do it too).</summary>
    public void StartLoading()
    {
        if (_feed is null || _overLimit)
            return;
        if (Interlocked.CompareExchange(ref _loading, 1, 0) != 0)
            return;
        var failedAt = Interlocked.Read(ref _lastFailedLoadTimestamp);
        if (failedAt != 0 && _time.GetElapsedTime(failedAt) < ReloadBackoff)
        {
            Volatile.Write(ref _loading, 0);
            return;
        }

        _ = Task.Run(LoadAsync);
    }

    /// <summary>Loads the backups now (tests; serve loads in the background).</summary>
    public async Task LoadNowAsync(CancellationToken ct)
    {
        if (_feed is null || _overLimit)
            return;
        while (Interlocked.CompareExchange(ref _loading, 1, 0) != 0)
            await Task.Delay(10, ct).ConfigureAwait(false);
        await LoadAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// A page of the backups of the clusters in <paramref name="scope"/>, as the catalog would list them; null when the
    /// model cannot answer (ask the catalog).
    /// </summary>
    public async ValueTask<BackupItemPage?> ListAsync(ClusterScope scope, PageRequest page, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var state = await CurrentAsync(ct).ConfigureAwait(false);
        if (state is null)
            return null;
        if (scope.Ids is null)
            return Slice(state.All, page);
        if (scope.Ids.Count == 1)
            return ListCluster(state, scope.Ids.First(), page);

        var lists = new List<BackupItem[]>(scope.Ids.Count);
        foreach (var id in scope.Ids)
        {
            if (state.Clusters.TryGetValue(id, out var c))
                lists.Add(c.Items);
        }

        return Merge(lists, page);
    }

    /// <summary>A page of one cluster's backups; null when the model cannot answer.</summary>
    public async ValueTask<BackupItemPage?> ListClusterAsync(string clusterId, PageRequest page, CancellationToken ct)
    {
        var state = await CurrentAsync(ct).ConfigureAwait(false);
        return state is null ? null : ListCluster(state, clusterId, page);
    }

    /// <summary>
    /// One backup: (true, its cluster, its JSON) when known, (true, null, null) when unknown, (false, ...) when the
    /// model cannot answer.
    /// </summary>
    public async ValueTask<(bool Answered, string? ClusterId, byte[]? Json)> GetAsync(string backupId, CancellationToken ct)
    {
        var state = await CurrentAsync(ct).ConfigureAwait(false);
        if (state is null)
            return (false, null, null);
        return state.ById.TryGetValue(backupId, out var item) ? (true, item.ClusterId, item.Json) : (true, null, null);
    }

    private static BackupItemPage ListCluster(State state, string clusterId, PageRequest page) =>
        state.Clusters.TryGetValue(clusterId, out var c) ? Slice(c.Items, page) : new BackupItemPage([], page.Offset, page.Limit, false, 0);

    private static BackupItemPage Slice(BackupItem[] items, PageRequest page)
    {
        var start = Math.Min(page.Offset, items.Length);
        var count = Math.Min(page.Limit, items.Length - start);
        var json = new byte[count][];
        for (var i = 0; i < count; i++)
            json[i] = items[start + i].Json;
        return new BackupItemPage(json, page.Offset, page.Limit, (long)page.Offset + page.Limit < items.Length, items.Length);
    }

    /// <summary>Merges per-cluster lists (each in listing order) and takes the page: a principal's clusters.</summary>
    private static BackupItemPage Merge(List<BackupItem[]> lists, PageRequest page)
    {
        var total = 0;
        foreach (var l in lists)
            total += l.Length;
        if (page.Offset >= total)
            return new BackupItemPage([], page.Offset, page.Limit, false, total);

        var queue = new PriorityQueue<(BackupItem[] List, int Index), BackupItem>(lists.Count, BackupItem.ListingOrder);
        foreach (var l in lists)
        {
            if (l.Length > 0)
                queue.Enqueue((l, 0), l[0]);
        }

        var count = Math.Min(page.Limit, total - page.Offset);
        var json = new byte[count][];
        var position = 0;
        var taken = 0;
        while (taken < count && queue.TryDequeue(out var head, out var item))
        {
            if (position++ >= page.Offset)
                json[taken++] = item.Json;
            if (head.Index + 1 < head.List.Length)
                queue.Enqueue((head.List, head.Index + 1), head.List[head.Index + 1]);
        }

        return new BackupItemPage(json, page.Offset, page.Limit, (long)page.Offset + page.Limit < total, total);
    }

    /// <summary>The model, synchronised as the consistency rules require; null when it cannot answer.</summary>
    private async ValueTask<State?> CurrentAsync(CancellationToken ct)
    {
        if (_feed is null || _overLimit)
            return null;
        var state = _state;
        if (state is null || Volatile.Read(ref _loading) != 0)
        {
            StartLoading();
            return null;
        }

        // What this request must see: this process's writes committed before it arrived, and other processes' writes
        // committed before (now - MaxStaleness).
        var needWrites = _feed.LocalBackupWrites;
        var arrived = _time.GetTimestamp();
        if (Covers(needWrites, arrived))
            return state;

        await _sync.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            state = _state;
            if (state is null || Volatile.Read(ref _loading) != 0)
                return null;
            // A synchronisation that ran while this request waited may already cover it (writers and readers coalesce:
            // under a stream of engine writes, one feed read serves every request that queued behind it).
            if (Covers(needWrites, arrived))
                return state;
            var writes = _feed.LocalBackupWrites;
            var lookedAt = _time.GetTimestamp();

            var changes = await _feed.ReadBackupChangesAsync(state.Position, MaxInlineChanges, ct).ConfigureAwait(false);
            if (changes is null)
            {
                _logger.LogInformation("the backup read model is {Position} changes behind or lost track: reloading it", state.Position);
                StartLoading();
                return null;
            }

            if (changes.Changes.Count > 0)
            {
                state = Apply(state, changes.Changes);
                if (state is null)
                    return null;
            }

            state.Position = changes.Position;
            _state = state;
            Interlocked.Exchange(ref _syncedLocalWrites, writes);
            Interlocked.Exchange(ref _lastLookTimestamp, lookedAt);
            return state;
        }
        finally
        {
            _sync.Release();
        }
    }

    /// <summary>
    /// True when the last synchronisation saw this process's writes up to <paramref name="localWrites"/> and looked at the
    /// feed less than MaxStaleness before <paramref name="arrived"/> (or after it).
    /// </summary>
    private bool Covers(long localWrites, long arrived) =>
        Interlocked.Read(ref _syncedLocalWrites) >= localWrites
        && arrived - Interlocked.Read(ref _lastLookTimestamp) < _maxStalenessTicks;

    /// <summary>Reads every backup into a new model, then swaps it in (requests use the catalog meanwhile).</summary>
    private async Task LoadAsync()
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var writes = _feed!.LocalBackupWrites;
            var builder = new Builder(_serialize, _options.MaxBackups);
            var position = await _feed.ReadAllBackupsAsync(builder.Add, _stopping.Token).ConfigureAwait(false);
            if (builder.OverLimit)
            {
                TurnOffOverLimit(builder.Count);
                return;
            }

            var state = builder.Build(position);
            await _sync.WaitAsync(_stopping.Token).ConfigureAwait(false);
            try
            {
                _state = state;
                Interlocked.Exchange(ref _syncedLocalWrites, writes);
                // The next request looks at the feed: what was written while the backups were read.
                Interlocked.Exchange(ref _lastLookTimestamp, 0);
            }
            finally
            {
                _sync.Release();
            }

            Interlocked.Exchange(ref _lastFailedLoadTimestamp, 0);
            // A load allocates the model once and leaves the records it was built from, and the previous model, as garbage:
            // one compacting collection returns that memory, so the process keeps about what the model needs (a pause of
            // tens of milliseconds at a million backups, once per load; loads happen at start-up and after a backlog).
            if (state.All.Length >= CompactAfterLoadBackups)
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            _logger.LogInformation("backup read model loaded: {Backups} backups, {ItemBytes} bytes of JSON items, in {ElapsedMs:0} ms",
                state.All.Length, state.ItemBytes, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
#pragma warning disable CA1031 // a background load: the error is logged, requests use the catalog, the next one retries
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Interlocked.Exchange(ref _lastFailedLoadTimestamp, _time.GetTimestamp());
            _logger.LogWarning(ex,
                "unable to load the backup read model; the API lists backups from the catalog until a later request retries");
        }
        finally
        {
            Volatile.Write(ref _loading, 0);
        }
    }

    private void TurnOffOverLimit(int count)
    {
        _overLimit = true;
        _state = null;
        _logger.LogWarning(
            "the catalog holds more than {MaxBackups} backups ({Count} read): the backup read model is off and the API lists " +
            "backups from the catalog; raise PgVault:Api:ReadModel:MaxBackups (about 0.66 KB of memory per backup) to turn it on",
            _options.MaxBackups, count);
    }

    /// <summary>Applies changes (oldest first) to a model; returns the model to use (a new one when the order changed).</summary>
    private State? Apply(State state, IReadOnlyList<BackupChange> changes)
    {
        // The last change of each backup decides.
        var last = new Dictionary<string, BackupRecord?>(StringComparer.Ordinal);
        foreach (var c in changes)
            last[c.Id] = c.Backup;

        var removed = new HashSet<BackupItem>(ReferenceEqualityComparer.Instance);
        var added = new List<BackupItem>();
        var itemBytes = state.ItemBytes;
        foreach (var (id, backup) in last)
        {
            state.ById.TryGetValue(id, out var existing);
            if (backup is null)
            {
                if (existing is not null)
                {
                    removed.Add(existing);
                    state.ById.TryRemove(id, out _);
                    itemBytes -= existing.Json.Length;
                }

                continue;
            }

            var json = _serialize(backup);
            var createdUs = AdoCatalog.ToMicros(backup.CreatedDate);
            if (existing is not null && existing.CreatedUs == createdUs
                && string.Equals(existing.ClusterId, backup.ClusterId, StringComparison.Ordinal))
            {
                // Same place in every order: replace the item's bytes (readers see the old or the new, both whole).
                itemBytes += json.Length - existing.Json.Length;
                existing.Json = json;
                continue;
            }

            if (existing is not null)
            {
                removed.Add(existing);
                itemBytes -= existing.Json.Length;
            }

            // One string per cluster, shared by its items.
            var clusterId = state.Clusters.TryGetValue(backup.ClusterId, out var known) ? known.Id : backup.ClusterId;
            var item = new BackupItem(id, clusterId, createdUs, json);
            state.ById[id] = item;
            added.Add(item);
            itemBytes += json.Length;
        }

        if (removed.Count == 0 && added.Count == 0)
        {
            state.ItemBytes = itemBytes;
            return state;
        }

        var count = state.All.Length - removed.Count + added.Count;
        if (count > _options.MaxBackups)
        {
            TurnOffOverLimit(count);
            return null;
        }

        added.Sort(BackupItem.ListingOrder);
        var touched = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in removed)
            touched.Add(item.ClusterId);
        foreach (var item in added)
            touched.Add(item.ClusterId);

        var clusters = new Dictionary<string, ClusterList>(state.Clusters, StringComparer.Ordinal);
        foreach (var id in touched)
        {
            var old = clusters.TryGetValue(id, out var list) ? list.Items : [];
            var items = MergeSorted(old, removed, added.Where(a => string.Equals(a.ClusterId, id, StringComparison.Ordinal)).ToList());
            if (items.Length == 0)
                clusters.Remove(id);
            else
                clusters[id] = new ClusterList(list?.Id ?? items[0].ClusterId, items);
        }

        return new State(MergeSorted(state.All, removed, added), clusters, state.ById)
        {
            Position = state.Position,
            ItemBytes = itemBytes,
        };
    }

    /// <summary><paramref name="items"/> without <paramref name="removed"/>, with <paramref name="added"/> (sorted) merged in.</summary>
    private static BackupItem[] MergeSorted(BackupItem[] items, HashSet<BackupItem> removed, List<BackupItem> added)
    {
        var result = new List<BackupItem>(items.Length + added.Count);
        var a = 0;
        foreach (var item in items)
        {
            if (removed.Contains(item))
                continue;
            while (a < added.Count && BackupItem.ListingOrder.Compare(added[a], item) < 0)
                result.Add(added[a++]);
            result.Add(item);
        }

        while (a < added.Count)
            result.Add(added[a++]);
        return [.. result];
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
        _sync.Dispose();
    }

    /// <summary>One cluster's backups in listing order (and the one string of its id its items share).</summary>
    private sealed record ClusterList(string Id, BackupItem[] Items);

    /// <summary>
    /// One version of the model. The order arrays are never changed once built (a change in order builds a new state);
    /// items' bytes are replaced in place, and the id index is shared and updated in place by the synchronisation.
    /// </summary>
    private sealed class State(BackupItem[] all, Dictionary<string, ClusterList> clusters, ConcurrentDictionary<string, BackupItem> byId)
    {
        public BackupItem[] All { get; } = all;

        public Dictionary<string, ClusterList> Clusters { get; } = clusters;

        public ConcurrentDictionary<string, BackupItem> ById { get; } = byId;

        /// <summary>The change-feed position the model reflects.</summary>
        public long Position { get; set; }

        public long ItemBytes { get; set; }
    }

    /// <summary>Builds a state from every backup, read in listing order.</summary>
    private sealed class Builder(Func<BackupRecord, byte[]> serialize, int maxBackups)
    {
        private readonly List<BackupItem> _all = [];
        private readonly Dictionary<string, List<BackupItem>> _byCluster = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _clusterIds = new(StringComparer.Ordinal);
        private long _itemBytes;

        public int Count { get; private set; }

        public bool OverLimit => Count > maxBackups;

        public void Add(BackupRecord backup)
        {
            if (++Count > maxBackups)
                return;
            if (!_clusterIds.TryGetValue(backup.ClusterId, out var clusterId))
            {
                clusterId = backup.ClusterId;
                _clusterIds[clusterId] = clusterId;
                _byCluster[clusterId] = [];
            }

            var json = serialize(backup);
            var item = new BackupItem(backup.Id, clusterId, AdoCatalog.ToMicros(backup.CreatedDate), json);
            _all.Add(item);
            _byCluster[clusterId].Add(item);
            _itemBytes += json.Length;
        }

        public State Build(long position)
        {
            // The catalog's order is the listing key's (bytewise); the model's is ordinal on UTF-16: the same for every id
            // PgVault writes (ASCII). Sorting again makes the model's own comparisons consistent whatever the ids.
            var all = _all.ToArray();
            Array.Sort(all, BackupItem.ListingOrder);
            var clusters = new Dictionary<string, ClusterList>(_byCluster.Count, StringComparer.Ordinal);
            foreach (var (id, list) in _byCluster)
            {
                var items = list.ToArray();
                Array.Sort(items, BackupItem.ListingOrder);
                clusters[id] = new ClusterList(id, items);
            }

            var byId = new ConcurrentDictionary<string, BackupItem>(Environment.ProcessorCount, all.Length, StringComparer.Ordinal);
            foreach (var item in all)
                byId[item.Id] = item;
            return new State(all, clusters, byId) { Position = position, ItemBytes = _itemBytes };
        }
    }
}

/// <summary>One backup in the read model: its id, place in the listing order, cluster and API JSON.</summary>
public sealed class BackupItem(string id, string clusterId, long createdUs, byte[] json)
{
    /// <summary>Newest first, then id ascending (ordinal): the catalog's listing order.</summary>
    public static readonly IComparer<BackupItem> ListingOrder = Comparer<BackupItem>.Create((a, b) =>
    {
        var c = b.CreatedUs.CompareTo(a.CreatedUs);
        return c != 0 ? c : string.CompareOrdinal(a.Id, b.Id);
    });

    private volatile byte[] _json = json;

    public string Id { get; } = id;

    public string ClusterId { get; } = clusterId;

    /// <summary>Creation time, microseconds since the Unix epoch.</summary>
    public long CreatedUs { get; } = createdUs;

    /// <summary>The backup's <c>BackupResponse</c> JSON (UTF-8), replaced whole when the backup changes.</summary>
    public byte[] Json
    {
        get => _json;
        internal set => _json = value;
    }
}

/// <summary>A page of pre-serialized items; <see cref="Total"/> is the number of backups in the listing.</summary>
public sealed record BackupItemPage(byte[][] Items, int Offset, int Limit, bool HasMore, int Total);

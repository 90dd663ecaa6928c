using System.Globalization;
using System.Text.RegularExpressions;
using PgVault.Engine.Repository;
using PgVault.Engine.Storage;
using PgVault.Postgres;
using PgVault.Storage;

namespace PgVault.Engine.Restore;

/// <summary>What a <see cref="WalFetchAgent"/> keeps ahead of recovery, and when it gives up.</summary>
public sealed record WalFetchAgentOptions
{
    /// <summary>Whole segments kept in the spool ahead of recovery (fetched or being fetched). Disk: this × 16 MiB. At least 1.</summary>
    public int AheadSegments { get; init; } = WalFetcher.DefaultPrefetchSegments;

    /// <summary>Segments fetched at once. Memory: a few buffers per fetch. At least 1.</summary>
    public int Jobs { get; init; } = WalFetchAgent.DefaultJobs;

    /// <summary>
    /// How far the agent may widen itself when recovery waits for a segment it has not fetched yet (it consumes them
    /// faster than they arrive, as over S3): up to this many times <see cref="AheadSegments"/> ahead (and at most
    /// <see cref="MaxAheadSegments"/>) and twice <see cref="Jobs"/> at once. 1: never.
    /// </summary>
    public int Widen { get; init; } = 4;

    /// <summary>The bound on segments ahead however wide the agent grew (disk: this × 16 MiB).</summary>
    public int MaxAheadSegments { get; init; } = 64;

    /// <summary>The agent ends (and removes the spool) when recovery took nothing and asked for nothing for this long.</summary>
    public TimeSpan Idle { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How often the agent looks at the spool when nothing woke it.</summary>
    public TimeSpan Poll { get; init; } = TimeSpan.FromMilliseconds(100);
}

/// <summary>
/// One per restored data directory while it recovers: keeps the next whole segments in the spool, checked against their
/// SHA-256, so that the <c>restore_command</c> (<see cref="WalSpoolCommand"/>) takes them with a rename and starts no
/// PgVault; and answers what the shell asks for that is not there (a file named <c>&lt;name&gt;.wanted</c>): a history
/// file or a segment fetched into the spool, <c>&lt;name&gt;.absent</c> when the file does not exist (past the end of
/// the backup's WAL, a history file of a timeline that never was), <c>&lt;name&gt;.fallback</c> for anything else (a
/// segment missing inside the chain, a corrupt or unreadable object: <c>pgvault wal-fetch</c> then decides and says why,
/// exit 126 included). Only one agent runs per spool: it holds an exclusive lock on <c>.agent</c>, which holds its
/// process id for the shell. It ends, removing the spool, when recovery ended (no <c>recovery.signal</c> nor
/// <c>standby.signal</c> left, and a few seconds without requests after that), the server is gone (abandoned), or nothing happened for <see cref="WalFetchAgentOptions.Idle"/>.
/// </summary>
public sealed partial class WalFetchAgent
{
    /// <summary>Segments fetched at once by default.</summary>
    public const int DefaultJobs = PgVault.Configuration.EngineOptions.DefaultWalPrefetchJobs;

    /// <summary>The lock and process id file of the spool's agent.</summary>
    public const string LockFile = ".agent";

    /// <summary>Suffix of the shell's request for a file not in the spool.</summary>
    public const string WantedSuffix = ".wanted";

    /// <summary>Suffix of the agent's answer "this file does not exist" (the shell exits 1).</summary>
    public const string AbsentSuffix = ".absent";

    /// <summary>Suffix of the agent's answer "ask pgvault wal-fetch" (the shell runs it).</summary>
    public const string FallbackSuffix = ".fallback";

    private const string TempMarker = ".pgvault-tmp-";

    private readonly IObjectStore _store;
    private readonly string _backupId;
    private readonly string _spool;
    private readonly string _dataDirectory;
    private readonly string? _walDirectory;
    private readonly WalFetchAgentOptions _options;
    private readonly TextWriter _log;
    private readonly ChainRepository _repository;
    private readonly Dictionary<string, Task<bool>> _prefetching = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task<bool>> _answering = new(StringComparer.Ordinal);
    private readonly HashSet<string> _spooled = new(StringComparer.Ordinal);
    private readonly HashSet<string> _failed = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _wake = new(0);
    private Dictionary<(uint Timeline, ulong Segment), WalObject> _whole = [];
    private DateTime _scannedAt = DateTime.MinValue;
    private uint _timeline;
    private ulong _next;
    private bool _positioned;
    private DateTime _lastActivity = DateTime.UtcNow;
    private int _ahead;
    private bool _tookAny;
    private int _jobs;
    private DateTime? _recoveryEndedAt;

    /// <summary>How long the agent still answers after recovery.signal is gone.</summary>
    private static readonly TimeSpan EndGrace = TimeSpan.FromSeconds(3);

    /// <param name="store">The repository.</param>
    /// <param name="backupId">The backup (chain) recovered from.</param>
    /// <param name="spool">The spool: must be this user's private directory (checked).</param>
    /// <param name="dataDirectory">The recovering data directory (where <c>recovery.signal</c> and <c>postmaster.pid</c> are).</param>
    /// <param name="options">How far ahead, how many at once.</param>
    /// <param name="log">Where the agent says what went wrong (PostgreSQL's log, through stderr).</param>
    public WalFetchAgent(IObjectStore store, string backupId, string spool, string dataDirectory, WalFetchAgentOptions? options, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _backupId = backupId;
        var (cluster, chain) = WalFetcher.ParseBackupId(backupId);
        _repository = new ChainRepository(store, cluster, chain);
        _spool = Path.GetFullPath(spool);
        _dataDirectory = Path.GetFullPath(dataDirectory);
        // Segments are linked into pg_wal for the shell (WalHandover) only where its line looks: the data directory's
        // pg_wal holding the spool (one filesystem: a hard link is possible).
        var wal = Path.Combine(_dataDirectory, "pg_wal");
        _walDirectory = string.Equals(Path.GetDirectoryName(_spool), wal, StringComparison.Ordinal) ? wal : null;
        _options = options ?? new WalFetchAgentOptions();
        _ahead = Math.Max(1, _options.AheadSegments);
        _jobs = Math.Max(1, _options.Jobs);
        _log = log;
    }

    /// <summary>Segments handed to the spool by prefetching (for tests and the log).</summary>
    public int Prefetched { get; private set; }

    /// <summary>Segments PostgreSQL read from their links in pg_wal, as the shell noted (for tests and the log).</summary>
    public int ReadFromWal { get; private set; }

    /// <summary>Requests answered from <c>.wanted</c> files (for tests and the log).</summary>
    public int Answered { get; private set; }

    /// <summary>Whether <paramref name="dataDirectory"/> is recovering (an agent has something to do there).</summary>
    public static bool IsRecovering(string dataDirectory) =>
        File.Exists(Path.Combine(dataDirectory, "recovery.signal")) || File.Exists(Path.Combine(dataDirectory, "standby.signal"));

    /// <summary>
    /// Whether an agent holds <paramref name="spool"/>'s lock. False also when the spool does not exist. A process that
    /// died released its lock (the kernel drops it), whatever its <c>.agent</c> file says.
    /// </summary>
    public static bool IsRunning(string spool)
    {
        var path = Path.Combine(spool, LockFile);
        if (PrivateFiles.LStat(path) is not { IsRegularFile: true })
            return false;
        try
        {
            // Shared (flock LOCK_SH): fails while the agent holds its exclusive lock.
            using var probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>
    /// Runs until recovery ends or is abandoned, or <paramref name="ct"/> is cancelled; then removes the spool. Returns
    /// false at once (touching nothing) when another agent holds the spool. <paramref name="after"/>: the file recovery
    /// asked for last, if known (prefetching starts after it; otherwise at the base backup's start, from <c>backup_label</c>).
    /// </summary>
    public async Task<bool> RunAsync(string? after, CancellationToken ct)
    {
        PrivateFiles.EnsurePrivateDirectory(_spool, "the WAL spool");
        FileStream held;
        try
        {
            var lockOptions = new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None, // flock(LOCK_EX): one agent per spool; released by the kernel when this process dies
                BufferSize = 0,
            };
            if (!OperatingSystem.IsWindows())
                lockOptions.UnixCreateMode = PrivateFiles.FileMode;
            held = new FileStream(Path.Combine(_spool, LockFile), lockOptions);
        }
        catch (IOException)
        {
            return false;
        }

        using var watcher = new FileSystemWatcher(_spool) { IncludeSubdirectories = false, NotifyFilter = NotifyFilters.FileName };
        var reason = "stopped";
        try
        {
            held.SetLength(0);
            await held.WriteAsync(System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n"), ct)
                .ConfigureAwait(false);
            Position(after);
            watcher.Created += (_, _) => _wake.Release();
            watcher.Deleted += (_, _) => _wake.Release();
            watcher.Renamed += (_, _) => _wake.Release();
            watcher.EnableRaisingEvents = true;
            reason = await LoopAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // stopped (the server's signal): an end like any other
        }
        finally
        {
            watcher.EnableRaisingEvents = false;
            await DrainAsync().ConfigureAwait(false);
            try
            {
                // Whatever ended it: what it did and its CPU, for the log (the benchmark reads the CPU from this line).
                await _log.WriteLineAsync($"pgvault wal-fetch agent: {reason}; removing the spool ({ReadFromWal} segments read from pg_wal, {_ahead} ahead and {_jobs} at once at the end, {Prefetched} segments fetched ahead, " +
                                          $"{Answered} requests answered, {System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds:0.00} CPU s)")
                    .ConfigureAwait(false);
            }
            catch (IOException)
            {
                // the log is gone with the server: the spool still goes
            }

            RemoveSpool();
            await held.DisposeAsync().ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Looks after the spool until the agent should end; returns why.</summary>
    private async Task<string> LoopAsync(CancellationToken ct)
    {
        var lastLiveness = DateTime.MinValue;
        while (!ct.IsCancellationRequested)
        {
            if (DateTime.UtcNow - lastLiveness > TimeSpan.FromMilliseconds(250))
            {
                lastLiveness = DateTime.UtcNow;
                if (EndReason() is { } reason)
                    return reason;
            }

            Look();
            await TopUpAsync(ct).ConfigureAwait(false);
            try
            {
                await _wake.WaitAsync(_options.Poll, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return "stopped";
            }

            while (await _wake.WaitAsync(0, CancellationToken.None).ConfigureAwait(false))
            {
                // one look covers every event so far
            }
        }

        return "stopped";
    }

    /// <summary>Why the agent should end now, or null.</summary>
    private string? EndReason()
    {
        if (!IsRecovering(_dataDirectory))
        {
            // PostgreSQL removes recovery.signal before its last lookups (the parent timeline's history file, written
            // into the new one's): answered a little longer, so they start no PgVault either.
            _recoveryEndedAt ??= DateTime.UtcNow;
            if (DateTime.UtcNow - _recoveryEndedAt > EndGrace && DateTime.UtcNow - _lastActivity > EndGrace)
                return "recovery ended";
        }

        if (!PostmasterAlive())
            return "the server is gone";
        if (DateTime.UtcNow - _lastActivity > _options.Idle)
            return $"recovery asked for nothing for {_options.Idle.TotalSeconds:0} s";
        return null;
    }

    private bool PostmasterAlive()
    {
        try
        {
            var first = File.ReadLines(Path.Combine(_dataDirectory, "postmaster.pid")).FirstOrDefault();
            return int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0
                   && (!OperatingSystem.IsLinux() || Directory.Exists($"/proc/{pid}"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Where prefetching starts: after <paramref name="after"/> if it is a segment, else the base backup's first segment.</summary>
    private void Position(string? after)
    {
        if (after is not null && WalSegment.TryParse(after, out var t, out var n))
        {
            (_timeline, _next, _positioned) = (t, n + 1, true);
            return;
        }

        var label = Path.Combine(_dataDirectory, "backup_label");
        if (PrivateFiles.LStat(label) is { IsRegularFile: true } && StartFile().Match(File.ReadAllText(label)) is { Success: true } m
            && WalSegment.TryParse(m.Groups["file"].Value, out t, out n))
            (_timeline, _next, _positioned) = (t, n, true);
    }

    [GeneratedRegex(@"^START WAL LOCATION: .*\(file (?<file>[0-9A-F]{24})\)", RegexOptions.Multiline | RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture)]
    private static partial Regex StartFile();

    /// <summary>What the spool holds now: segments recovery took (gone), requests to answer.</summary>
    private void Look()
    {
        // Answers done first: their .wanted files are gone by now, so the listing below cannot ask again.
        foreach (var (name, task) in _answering.Where(a => a.Value.IsCompleted).ToList())
        {
            _answering.Remove(name);
            Answered++;
            if (Succeeded(task))
                _spooled.Add(name);
        }

        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in Directory.EnumerateFiles(_spool))
            present.Add(Path.GetFileName(path));

        foreach (var taken in present.Where(n => n.EndsWith(WalHandover.TakenSuffix, StringComparison.Ordinal)).ToList())
        {
            // PostgreSQL reads this segment from its link in pg_wal (the shell said so): the spool's name goes.
            var name = taken[..^WalHandover.TakenSuffix.Length];
            if (IsWalFileName(name))
            {
                ReadFromWal++;
                TryDelete(Path.Combine(_spool, name));
                present.Remove(name);
            }

            TryDelete(Path.Combine(_spool, taken));
        }

        foreach (var name in _spooled.Where(n => !present.Contains(n)).ToList())
        {
            // Taken by the restore_command: recovery moved on.
            _spooled.Remove(name);
            _tookAny = true;
            _lastActivity = DateTime.UtcNow;
            if (WalSegment.TryParse(name, out var t, out var n) && (t != _timeline || n >= _next))
                (_timeline, _next, _positioned) = (t, n + 1, true);
        }

        foreach (var wanted in present.Where(n => n.EndsWith(WantedSuffix, StringComparison.Ordinal)))
        {
            var name = wanted[..^WantedSuffix.Length];
            if (_answering.ContainsKey(name) || !IsWalFileName(name))
                continue;
            _lastActivity = DateTime.UtcNow;
            Task<bool>? inFlight = null;
            if (WalSegment.TryParse(name, out var t, out var n))
            {
                var behind = _positioned && t == _timeline && n >= _next;
                // Recovery is here now: a timeline switch or a jump moves the prefetching along.
                if (t != _timeline)
                    DropSpooledExcept(name);
                if (t != _timeline || n + 1 > _next || !_positioned)
                    (_timeline, _next, _positioned) = (t, n + 1, true);
                inFlight = _prefetching.GetValueOrDefault(name);
                if (_tookAny && (inFlight is not null || behind))
                    Widen(); // recovery took what was there and waits for more: fetch further ahead, more at once
            }

            _answering[name] = AnswerAsync(name, inFlight, present.Contains(name));
        }
    }

#pragma warning disable VSTHRD002, VSTHRD103 // only ever asked of a completed task
    private static bool Succeeded(Task<bool> completed) => completed.IsCompletedSuccessfully && completed.Result;
#pragma warning restore VSTHRD002, VSTHRD103

    private static bool IsWalFileName(string name) =>
        WalSegment.TryParse(name, out _, out _)
        || (name.Length == 16 && name.EndsWith(".history", StringComparison.Ordinal) && name[..8].All(char.IsAsciiHexDigit));

    /// <summary>
    /// Answers the shell's request for <paramref name="name"/>: the file in the spool, or a marker. Touches files only
    /// (the loop owns the agent's state); true when it put <paramref name="name"/> into the spool itself.
    /// </summary>
    private async Task<bool> AnswerAsync(string name, Task<bool>? inFlight, bool present)
    {
        var marker = FallbackSuffix;
        var placed = false;
        try
        {
#pragma warning disable VSTHRD003 // the agent's own prefetch task, started by TopUpAsync
            if (inFlight is not null)
                present = await inFlight.ConfigureAwait(false);
#pragma warning restore VSTHRD003
            if (present || PrivateFiles.LStat(Path.Combine(_spool, name)) is { IsRegularFile: true })
            {
                marker = null;
                return false;
            }

            var (code, message) = await WalFetcher.FetchAsync(_store, _backupId, name, Path.Combine(_spool, name), CancellationToken.None)
                .ConfigureAwait(false);
            if (code == 0)
            {
                (marker, placed) = (null, true);
            }
            else if (code == WalFetcher.NotFound)
            {
                marker = AbsentSuffix;
            }
            else
            {
                await _log.WriteLineAsync("pgvault wal-fetch agent: " + message).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Reported by wal-fetch itself, which the shell runs on the fallback (and which stops recovery on it).
            await _log.WriteLineAsync($"pgvault wal-fetch agent: {name}: {ex.Message}").ConfigureAwait(false);
        }
        finally
        {
            if (marker is not null)
                Mark(name + marker);
            TryDelete(Path.Combine(_spool, name + WantedSuffix));
            _wake.Release();
        }

        return placed;
    }

    /// <summary>Creates an empty marker file (exclusively: a stale one is replaced).</summary>
    private void Mark(string file)
    {
        var path = Path.Combine(_spool, file);
        TryDelete(path);
        PrivateFiles.CreateNew(path, bufferSize: 0, options: FileOptions.None).Dispose();
    }

    private void DropSpooledExcept(string keep)
    {
        foreach (var name in _spooled.Where(n => n != keep).ToList())
        {
            Unplace(name);
            TryDelete(Path.Combine(_spool, name));
            _spooled.Remove(name);
        }
    }

    /// <summary>Starts fetches until the spool holds <see cref="WalFetchAgentOptions.AheadSegments"/> segments ahead or all jobs run.</summary>
    private async Task TopUpAsync(CancellationToken ct)
    {
        foreach (var (name, task) in _prefetching.Where(p => p.Value.IsCompleted).ToList())
        {
            _prefetching.Remove(name);
            if (Succeeded(task))
            {
                _spooled.Add(name);
                Prefetched++;
            }
            else
            {
                _failed.Add(name);
            }
        }

        if (!_positioned)
            return;
        var (ahead, jobs) = (_ahead, _jobs);
        while (_prefetching.Count < jobs && _prefetching.Count + _spooled.Count(IsAheadSegment) < ahead)
        {
            var key = (_timeline, _next);
            if (!_whole.ContainsKey(key))
            {
                if (DateTime.UtcNow - _scannedAt < TimeSpan.FromSeconds(5))
                    return; // the head of the chain (or a gap): the shell's request decides
                await RescanAsync(ct).ConfigureAwait(false);
                if (!_whole.ContainsKey(key))
                    return;
            }

            var name = WalSegment.Name(_timeline, _next);
            _next++;
            if (_failed.Contains(name) || _spooled.Contains(name) || _prefetching.ContainsKey(name)
                || PrivateFiles.LStat(Path.Combine(_spool, name)) is not null)
                continue;
            var wal = _whole[key];
            _prefetching[name] = Task.Run(() => PrefetchAsync(wal, name, ct), CancellationToken.None);
        }
    }

    /// <summary>Segments kept ahead and fetched at once now (grown by waits, see <see cref="WalFetchAgentOptions.Widen"/>).</summary>
    public (int Ahead, int Jobs) Width => (_ahead, _jobs);

    private void Widen()
    {
        var configured = Math.Max(1, _options.AheadSegments);
        var widest = Math.Max(configured, Math.Min(configured * Math.Max(1, _options.Widen), _options.MaxAheadSegments));
        _ahead = Math.Min(widest, _ahead * 2);
        if (_options.Widen > 1)
            _jobs = Math.Min(2 * Math.Max(1, _options.Jobs), _jobs + 1);
    }

    private bool IsAheadSegment(string name) => WalSegment.TryParse(name, out var t, out _) && t == _timeline;

    private async Task RescanAsync(CancellationToken ct)
    {
        _scannedAt = DateTime.UtcNow;
        try
        {
            var chain = await _repository.ScanAsync(ct).ConfigureAwait(false);
            _whole = chain?.Wal.Where(w => !w.Partial).GroupBy(w => (w.Timeline, w.Segment)).ToDictionary(g => g.Key, g => g.First()) ?? [];
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            await _log.WriteLineAsync("pgvault wal-fetch agent: listing the backup's WAL failed, not fetching ahead for now: " + ex.Message)
                .ConfigureAwait(false);
        }
    }

    /// <summary>Fetches one whole segment into the spool (checked, then renamed into place); false when that failed.</summary>
    private async Task<bool> PrefetchAsync(WalObject wal, string name, CancellationToken ct)
    {
        try
        {
            var verified = await ChainRepository.OpenWalAsync(_store, wal, ct).ConfigureAwait(false);
            await using (verified.ConfigureAwait(false))
                await WalFetcher.WriteAtomicallyAsync(verified, Path.Combine(_spool, name), durable: false, ct).ConfigureAwait(false);
            if (_walDirectory is not null)
                WalHandover.Place(Path.Combine(_spool, name), _walDirectory);
            return true;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            if (!ct.IsCancellationRequested)
                await _log.WriteLineAsync($"pgvault wal-fetch agent: fetching {name} ahead failed ({ex.Message}); recovery's request for it will fetch it again")
                    .ConfigureAwait(false);
            return false;
        }
        finally
        {
            _wake.Release();
        }
    }

    private async Task DrainAsync()
    {
        foreach (var task in _prefetching.Values.Concat(_answering.Values))
        {
            try
            {
#pragma warning disable VSTHRD003 // the agent's own tasks, started by this instance
                await task.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
#pragma warning restore VSTHRD003
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                // removed below whatever it left
            }
        }
    }

    /// <summary>Removes everything in the spool (only ever this agent's files: the spool is private), then the spool.</summary>
    private void RemoveSpool()
    {
        if (PrivateFiles.LStat(_spool) is not { IsDirectory: true, IsLink: false } s || s.Uid != PrivateFiles.EffectiveUid)
            return;
        var files = Directory.EnumerateFiles(_spool).Where(p => Path.GetFileName(p) != LockFile).ToList();
        foreach (var path in files)
        {
            // A segment linked ahead that recovery did not take goes from pg_wal too; one the shell just handed over
            // (its .taken note not seen yet) stays: PostgreSQL may be about to open it.
            if (!files.Contains(path + WalHandover.TakenSuffix, StringComparer.Ordinal))
                Unplace(Path.GetFileName(path));
            TryDelete(path);
        }
        TryDelete(Path.Combine(_spool, LockFile));
        try
        {
            Directory.Delete(_spool);
        }
        catch (IOException)
        {
            // a file arrived meanwhile (a new agent of a restarted server): left to it
        }
    }

    /// <summary>Removes the link in pg_wal of spooled file <paramref name="name"/>, if it is still that file.</summary>
    private void Unplace(string name)
    {
        if (_walDirectory is not null && WalSegment.TryParse(name, out _, out _))
            WalHandover.Unplace(Path.Combine(_spool, name), _walDirectory);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // gone already, or taken by the shell meanwhile
        }
    }

    /// <summary>Whether <paramref name="name"/> is one of the agent's temporary files.</summary>
    internal static bool IsTemporary(string name) => name.Contains(TempMarker, StringComparison.Ordinal);
}

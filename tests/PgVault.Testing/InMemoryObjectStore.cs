using System.Runtime.CompilerServices;
using PgVault.Errors;
using PgVault.Storage;

namespace PgVault.Testing;

/// <summary>
/// An <see cref="IObjectStore"/> in memory, for unit tests (WAL-G's <c>pkg/storages/memory</c>). It passes the same
/// contract suite as the real stores (<c>tests/PgVault.Storage.Tests</c>), so tests may use it as a fake: thread-safe,
/// all-or-nothing writes (content becomes visible only once its stream was read to the end), ordinal listings.
/// </summary>
/// <remarks>
/// Keys follow the rules of <c>PgVault.Storage.ObjectKeys</c>, written out again here as an independent second
/// implementation; the contract suite checks both reject the same keys.
/// </remarks>
public sealed class InMemoryObjectStore : IObjectStore
{
    private const int MaxKeyLength = 1024;
    private const int MaxSegmentLength = 255;
    private const string AllowedCharacters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.=/";

    private readonly Lock _lock = new();
    private readonly SortedDictionary<string, Entry> _objects = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    /// <summary>Creates an empty store; <paramref name="time"/> stamps LastModified (default: the system clock).</summary>
    public InMemoryObjectStore(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public string Kind => "memory";

    /// <inheritdoc />
    public ObjectStoreCapabilities Capabilities => ObjectStoreCapabilities.AtomicRename | ObjectStoreCapabilities.ConsistentList;

    /// <summary>How many objects the store holds.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _objects.Count;
        }
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        ValidatePrefix(prefix);
        await Task.Yield();
        List<ObjectInfo> snapshot;
        lock (_lock)
        {
            snapshot = [.. _objects
                .Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal))
                .Select(o => o.Value.Info)];
        }

        foreach (var info in snapshot)
        {
            ct.ThrowIfCancellationRequested();
            yield return info;
        }
    }

    /// <inheritdoc />
    public Task<ObjectInfo?> StatAsync(string key, CancellationToken ct)
    {
        ValidateKey(key);
        ct.ThrowIfCancellationRequested();
        lock (_lock)
            return Task.FromResult(_objects.TryGetValue(key, out var entry) ? entry.Info : null);
    }

    /// <inheritdoc />
    public Task<Stream> OpenReadAsync(string key, ReadRange range, CancellationToken ct)
    {
        ValidateKey(key);
        if (range.Offset < 0 || range.Length < 0)
            throw new ArgumentOutOfRangeException(nameof(range), range, "a read range has a non-negative offset and length");
        ct.ThrowIfCancellationRequested();
        Entry? entry;
        lock (_lock)
            _objects.TryGetValue(key, out entry);
        if (entry is null)
            throw new ObjectNotFoundException(key);

        var data = entry.Data;
        var offset = (int)Math.Min(range.Offset, data.Length);
        var length = (int)Math.Min(range.Length ?? long.MaxValue, data.Length - offset);
        return Task.FromResult<Stream>(new MemoryStream(data, offset, length, writable: false));
    }

    /// <inheritdoc />
    public async Task<ObjectInfo> WriteAsync(string key, Stream content, CancellationToken ct)
    {
        ValidateKey(key);
        ArgumentNullException.ThrowIfNull(content);

        // Read everything first: until the content ended without error, nothing of it is visible.
        using var buffer = new MemoryStream();
        await content.CopyToAsync(buffer, 81920, ct).ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();

        var info = new ObjectInfo(key, buffer.Length, _time.GetUtcNow());
        var entry = new Entry(info, buffer.ToArray());
        lock (_lock)
            _objects[key] = entry;
        return info;
    }

    /// <inheritdoc />
    public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(keys);
        foreach (var key in keys)
            ValidateKey(key);
        ct.ThrowIfCancellationRequested();
        lock (_lock)
        {
            foreach (var key in keys)
                _objects.Remove(key);
        }

        return Task.CompletedTask;
    }

    private static void ValidateKey(string key)
    {
        string? problem = null;
        if (string.IsNullOrEmpty(key))
            problem = "it is empty";
        else if (key.Length > MaxKeyLength)
            problem = $"longer than {MaxKeyLength} characters";
        else if (key.AsSpan().ContainsAnyExcept(AllowedCharacters))
            problem = "only ASCII letters, digits, '-', '_', '.', '=' and '/' are allowed";
        else if (key.StartsWith('/') || key.EndsWith('/'))
            problem = "it starts or ends with '/'";
        else if (key.Contains("..", StringComparison.Ordinal))
            problem = "it contains \"..\"";
        else if (key.Split('/').Any(s => s.Length == 0 || s[0] == '.' || s.Length > MaxSegmentLength))
            problem = "a segment is empty, starts with '.' or is too long";
        if (problem is not null)
            throw new PgVaultException(ErrorCode.InvalidObjectKey, $"'{key}' is not a valid repository key: {problem}");
    }

    private static void ValidatePrefix(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.Length > MaxKeyLength || prefix.AsSpan().ContainsAnyExcept(AllowedCharacters) || prefix.StartsWith('/')
            || prefix.Contains("..", StringComparison.Ordinal))
        {
            throw new PgVaultException(ErrorCode.InvalidObjectKey, $"'{prefix}' is not a valid repository key prefix");
        }
    }

    private sealed record Entry(ObjectInfo Info, byte[] Data);
}

using PgVault.Errors;

namespace PgVault.Storage;

/// <summary>Optional features of an object store (pgBackRest's storage feature bitmask).</summary>
[Flags]
public enum ObjectStoreCapabilities
{
    None = 0,

    /// <summary>A write becomes visible by an atomic rename (filesystem).</summary>
    AtomicRename = 1,

    /// <summary>Listing is strongly consistent right after a write.</summary>
    ConsistentList = 2,
}

/// <summary>An object's key, size in bytes (as stored) and last modification time.</summary>
public sealed record ObjectInfo(string Key, long SizeBytes, DateTimeOffset LastModified);

/// <summary>A byte range to read: from <see cref="Offset"/>, <see cref="Length"/> bytes (null = to the end).</summary>
public readonly record struct ReadRange(long Offset, long? Length)
{
    public static ReadRange All { get; } = new(0, null);
}

/// <summary>
/// Where the repository's objects live (a directory, an S3 bucket prefix). Keys are '/'-separated relative paths of
/// ASCII letters, digits and <c>-_.=</c>; they never start or end with '/' nor contain "..". Keys are immutable once
/// written by PgVault (no key is rewritten with other content), and sort in the order the layout intends.
/// Every method is safe to call concurrently.
/// </summary>
public interface IObjectStore
{
    /// <summary>"filesystem", "memory", "s3".</summary>
    string Kind { get; }

    ObjectStoreCapabilities Capabilities { get; }

    /// <summary>
    /// Every object whose key starts with <paramref name="prefix"/> (a plain string prefix, not only a folder), in
    /// ordinal key order. An empty prefix lists everything. Objects being written are never listed.
    /// </summary>
    IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, CancellationToken ct);

    /// <summary>The object's info, or null when it does not exist.</summary>
    Task<ObjectInfo?> StatAsync(string key, CancellationToken ct);

    /// <summary>
    /// Opens the object for reading. Throws <see cref="ObjectNotFoundException"/> when it does not exist. A range past the
    /// end reads what is there (possibly nothing).
    /// </summary>
    Task<Stream> OpenReadAsync(string key, ReadRange range, CancellationToken ct);

    /// <summary>
    /// <see cref="OpenReadAsync"/> for a reader that checks the content itself against a checksum recorded when the
    /// object was written (the SHA-256 in a backup's metadata or the WAL index, as <c>VerifyingReadStream</c> does), so
    /// the store may leave out a check of its own that would only repeat it (S3: the MD5 of the ETag over every byte).
    /// A store without such a check reads as <see cref="OpenReadAsync"/> does, which is the default.
    /// </summary>
    Task<Stream> OpenReadVerifiedByCallerAsync(string key, ReadRange range, CancellationToken ct) => OpenReadAsync(key, range, ct);

    /// <summary>
    /// Writes <paramref name="content"/> (read to its end) as the object <paramref name="key"/>, replacing any object of
    /// that key. All or nothing: if the write fails or is cancelled, no object (and no partial object) of that key becomes
    /// visible, and a replaced object stays intact. When the task completes the object is durable.
    /// </summary>
    Task<ObjectInfo> WriteAsync(string key, Stream content, CancellationToken ct);

    /// <summary>Deletes the objects; keys that do not exist are not errors.</summary>
    Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken ct);
}

/// <summary>The object does not exist (WAL-G's typed not-found).</summary>
public sealed class ObjectNotFoundException : PgVaultException
{
    public ObjectNotFoundException(string key)
        : base(ErrorCode.ObjectNotFound, $"object '{key}' not found in the repository")
    {
        Key = key;
    }

    public ObjectNotFoundException()
        : this("")
    {
    }

    public ObjectNotFoundException(string message, Exception innerException)
        : base(ErrorCode.ObjectNotFound, message, null, innerException)
    {
        Key = "";
    }

    public string Key { get; }
}

using PgVault.Storage;

namespace PgVault.Engine.Repository;

/// <summary>
/// The probe objects that prove a location works: written outside <c>clusters/</c> (see <see cref="RepositoryLayout"/>),
/// so no reader of backups ever sees them, and deleted again at once. <c>GET /readyz</c> and <c>pgvault check</c> write
/// them through here, so the repository module stays the only writer of repository objects.
/// </summary>
public static class RepositoryProbe
{
    /// <summary>
    /// <c>GET /readyz</c>: writes a tiny object at <see cref="RepositoryLayout.ReadinessProbe"/>, stats it and deletes it
    /// (the delete even when cancelled). Throws the store's error, or <see cref="IOException"/> when the object written is
    /// not there.
    /// </summary>
    public static async Task WriteStatDeleteAsync(IObjectStore store, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var key = RepositoryLayout.ReadinessProbe(Guid.NewGuid().ToString("N"));
        using (var content = new MemoryStream("ready\n"u8.ToArray(), writable: false))
            await store.WriteAsync(key, content, ct).ConfigureAwait(false);
        try
        {
            if (await store.StatAsync(key, ct).ConfigureAwait(false) is null)
                throw new IOException($"the probe object '{key}' just written is not there");
        }
        finally
        {
            await store.DeleteAsync([key], CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// <c>pgvault check</c>: writes an object at <see cref="RepositoryLayout.CheckProbe"/>, reads it back, finds it listed
    /// and deletes it. <paramref name="step"/> is told each step ("write", "read", "list", "delete") as it begins, so a
    /// failure can name it. Throws the store's error, or <see cref="InvalidDataException"/> when the object read back
    /// differs or is not listed.
    /// </summary>
    public static async Task WriteReadListDeleteAsync(IObjectStore store, string host, Action<string> step, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(step);
        var key = RepositoryLayout.CheckProbe(host, Guid.NewGuid().ToString("N"));
        var content = System.Text.Encoding.UTF8.GetBytes($"pgvault check {DateTimeOffset.UtcNow:O}\n");
        step("write");
        using (var body = new MemoryStream(content, writable: false))
            await store.WriteAsync(key, body, ct).ConfigureAwait(false);
        step("read");
        var back = new MemoryStream();
        await using (var read = await store.OpenReadAsync(key, ReadRange.All, ct).ConfigureAwait(false))
            await read.CopyToAsync(back, ct).ConfigureAwait(false);
        if (!back.ToArray().AsSpan().SequenceEqual(content))
            throw new InvalidDataException("the object read back differs from the one written");
        step("list");
        var listed = false;
        await foreach (var o in store.ListAsync(RepositoryLayout.CheckProbePrefix, ct).ConfigureAwait(false))
            listed |= string.Equals(o.Key, key, StringComparison.Ordinal);
        if (!listed)
            throw new InvalidDataException("the object written is not listed");
        step("delete");
        await store.DeleteAsync([key], ct).ConfigureAwait(false);
    }
}

using System.Runtime.CompilerServices;
using PgVault.Storage;

namespace PgVault.Testing;

/// <summary>
/// Wraps a store and fails (an <see cref="IOException"/>, or cancellation when <see cref="Cancel"/> is set) on the
/// delete call after <paramref name="deletesAllowed"/> successful ones: an expiry killed midway.
/// </summary>
public sealed class FailingObjectStore(IObjectStore inner, int deletesAllowed) : IObjectStore
{
    private int _deletes;

    /// <summary>Cancel this source instead of throwing (a cancelled run rather than a failing store).</summary>
    public CancellationTokenSource? Cancel { get; init; }

    /// <summary>True once the store refused a delete.</summary>
    public bool Tripped { get; private set; }

    public string Kind => inner.Kind;

    public ObjectStoreCapabilities Capabilities => inner.Capabilities;

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var o in inner.ListAsync(prefix, ct).ConfigureAwait(false))
            yield return o;
    }

    public Task<ObjectInfo?> StatAsync(string key, CancellationToken ct) => inner.StatAsync(key, ct);

    public Task<Stream> OpenReadAsync(string key, ReadRange range, CancellationToken ct) => inner.OpenReadAsync(key, range, ct);

    public Task<ObjectInfo> WriteAsync(string key, Stream content, CancellationToken ct) => inner.WriteAsync(key, content, ct);

    public async Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken ct)
    {
        if (Interlocked.Increment(ref _deletes) > deletesAllowed)
        {
            Tripped = true;
            if (Cancel is { } cancel)
            {
                await cancel.CancelAsync().ConfigureAwait(false);
                cancel.Token.ThrowIfCancellationRequested();
            }

            throw new IOException($"simulated failure: delete call {_deletes} refused (after {deletesAllowed} allowed)");
        }

        await inner.DeleteAsync(keys, ct).ConfigureAwait(false);
    }
}

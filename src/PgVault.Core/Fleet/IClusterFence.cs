namespace PgVault.Fleet;

/// <summary>
/// Whether this instance may still commit for one cluster: a base backup's completion marker, a new chain, expiry's
/// deletions, an in-place restore, a piece of WAL. In a fleet each cluster's backup worker gets the fence of the lease
/// (and epoch) it runs under; an instance that lost the lease (paused past its TTL, cut off from the catalog) must
/// commit nothing more. A single instance has no lease: <see cref="ClusterFence.None"/> always holds.
/// </summary>
public interface IClusterFence
{
    /// <summary>
    /// True while the lease is held as far as this instance knows without asking the catalog: its last renewal began
    /// less than a lease TTL ago (measured on the monotonic clock) and it was not lost or released since. Cheap: for the
    /// WAL path and catalog row saves.
    /// </summary>
    bool IsHeld { get; }

    /// <summary>Throws <see cref="Errors.PgVaultException"/> (<c>LeaseLost</c>) when <see cref="IsHeld"/> is false.</summary>
    void ThrowIfLost();

    /// <summary>
    /// Asks the catalog that the lease is still this instance's, with the same epoch, and not expired (and checks
    /// <see cref="IsHeld"/>); throws <see cref="Errors.PgVaultException"/> (<c>LeaseLost</c>) otherwise. For commit
    /// points, just before they commit.
    /// </summary>
    Task EnsureHeldAsync(CancellationToken ct);
}

/// <summary>Fences without a lease.</summary>
public static class ClusterFence
{
    /// <summary>The fence of a single instance (no fleet): always held.</summary>
    public static IClusterFence None { get; } = new Unfenced();

    private sealed class Unfenced : IClusterFence
    {
        public bool IsHeld => true;

        public void ThrowIfLost()
        {
        }

        public Task EnsureHeldAsync(CancellationToken ct) => Task.CompletedTask;
    }
}

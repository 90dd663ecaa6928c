using PgVault.Configuration;

namespace PgVault.Api.Limits;

/// <summary>
/// What a password check may cost the server. Checked <em>before</em> the slow hash: an HTTP Basic attempt takes one
/// token of its client address's bucket and one of its user name's (<c>RateLimit:FailedLoginBurst</c>, refilled at
/// <c>RateLimit:FailedLoginsPerMinute</c>); a successful login gives both back, so only failures use them up. And at
/// most <c>RateLimit:MaxConcurrentPasswordChecks</c> hashes run at once, so even a flood from many addresses leaves the
/// other cores to authenticated requests.
/// </summary>
public sealed class LoginThrottle
{
    /// <summary>How long an attempt waits for a free password-check slot before it is refused.</summary>
    public static readonly TimeSpan SlotWait = TimeSpan.FromSeconds(1);

    private const int MaxKeys = 100_000;
    private readonly TokenBuckets _addresses;
    private readonly TokenBuckets _users;
    private readonly SemaphoreSlim _checks;
    private readonly int _maxWaiting;
    private int _waiting;

    public LoginThrottle(PgVaultOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        var limits = options.RateLimit;
        var perSecond = limits.FailedLoginsPerMinute / 60;
        _addresses = new TokenBuckets(perSecond, limits.FailedLoginBurst, MaxKeys, time);
        _users = new TokenBuckets(perSecond, limits.FailedLoginBurst, MaxKeys, time);
        _checks = new SemaphoreSlim(limits.MaxConcurrentPasswordChecks, limits.MaxConcurrentPasswordChecks);
        _maxWaiting = 4 * limits.MaxConcurrentPasswordChecks;
    }

    /// <summary>Takes an attempt of <paramref name="address"/> and of <paramref name="user"/>; false with the wait when
    /// either has none left (and then nothing is taken).</summary>
    public bool TryBegin(string address, string user, out TimeSpan retryAfter)
    {
        if (!_addresses.TryTake(address, out retryAfter))
            return false;
        if (_users.TryTake(user, out retryAfter))
            return true;
        _addresses.Return(address);
        return false;
    }

    /// <summary>The attempt begun by <see cref="TryBegin"/> succeeded: it costs neither bucket anything.</summary>
    public void Succeeded(string address, string user)
    {
        _addresses.Return(address);
        _users.Return(user);
    }

    /// <summary>A slot for one password check (dispose it when done), or null when none frees up within
    /// <see cref="SlotWait"/> or too many attempts already wait.</summary>
    public async Task<IDisposable?> EnterCheckAsync(CancellationToken ct)
    {
        if (Interlocked.Increment(ref _waiting) > _maxWaiting)
        {
            Interlocked.Decrement(ref _waiting);
            return null;
        }

        try
        {
            return await _checks.WaitAsync(SlotWait, ct).ConfigureAwait(false) ? new Slot(_checks) : null;
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    private sealed class Slot(SemaphoreSlim semaphore) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                semaphore.Release();
        }
    }
}

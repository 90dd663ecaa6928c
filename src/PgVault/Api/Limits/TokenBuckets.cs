namespace PgVault.Api.Limits;

/// <summary>
/// Token buckets by key (a principal, a client address, a user name), refilled continuously at exactly
/// <c>ratePerSecond</c> up to <c>capacity</c>: any rate is exact, 0.1/s or 7/s as well as 200/s. A key whose bucket is
/// full is the same as an absent key, so buckets that refilled are dropped when the map reaches its bound; keys beyond the
/// bound (a flood of distinct names) share one overflow bucket, so memory stays bounded whatever callers send.
/// </summary>
public sealed class TokenBuckets
{
    /// <summary>Key of the bucket that every key beyond the bound shares.</summary>
    public const string OverflowKey = "\0overflow";

    private readonly double _ratePerSecond;
    private readonly double _capacity;
    private readonly int _maxKeys;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private long? _lastSweep;

    /// <param name="ratePerSecond">Tokens added per second (more than zero).</param>
    /// <param name="capacity">Tokens a bucket holds at most, and a new key starts with (at least one).</param>
    /// <param name="maxKeys">Buckets kept at most before keys share the overflow bucket.</param>
    /// <param name="time">The clock.</param>
    public TokenBuckets(double ratePerSecond, int capacity, int maxKeys, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ratePerSecond);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxKeys, 1);
        _ratePerSecond = ratePerSecond;
        _capacity = capacity;
        _maxKeys = maxKeys;
        _time = time;
    }

    /// <summary>Buckets currently held (not counting keys whose bucket is full and was dropped).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _buckets.Count;
        }
    }

    /// <summary>Takes one token of <paramref name="key"/>'s bucket; false (and how long until one is there) when empty.</summary>
    public bool TryTake(string key, out TimeSpan retryAfter)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            var slot = Slot(key, now);
            var bucket = Refilled(_buckets.GetValueOrDefault(slot, new Bucket(_capacity, now)), now);
            if (bucket.Tokens >= 1)
            {
                _buckets[slot] = bucket with { Tokens = bucket.Tokens - 1 };
                retryAfter = TimeSpan.Zero;
                return true;
            }

            _buckets[slot] = bucket;
            retryAfter = TimeSpan.FromSeconds((1 - bucket.Tokens) / _ratePerSecond);
            return false;
        }
    }

    /// <summary>Gives back a token taken by <see cref="TryTake"/> (an attempt that turned out to cost nothing).</summary>
    public void Return(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            var slot = _buckets.ContainsKey(key) ? key : _buckets.ContainsKey(OverflowKey) ? OverflowKey : null;
            if (slot is null)
                return; // already full, and dropped
            var bucket = Refilled(_buckets[slot], now);
            _buckets[slot] = bucket with { Tokens = Math.Min(_capacity, bucket.Tokens + 1) };
        }
    }

    private Bucket Refilled(Bucket bucket, long now)
    {
        var elapsed = _time.GetElapsedTime(bucket.At, now).TotalSeconds;
        return new Bucket(Math.Min(_capacity, bucket.Tokens + (elapsed * _ratePerSecond)), now);
    }

    /// <summary>The key itself, or the overflow bucket when the map is at its bound even after dropping full buckets.</summary>
    private string Slot(string key, long now)
    {
        if (_buckets.ContainsKey(key) || _buckets.Count < _maxKeys)
            return key;
        // A sweep costs the whole map: at most one a second, however many new keys arrive.
        if (_lastSweep is { } last && _time.GetElapsedTime(last, now) < TimeSpan.FromSeconds(1))
            return OverflowKey;
        _lastSweep = now;
        foreach (var (k, b) in _buckets.ToList())
        {
            if (Refilled(b, now).Tokens >= _capacity)
                _buckets.Remove(k);
        }

        return _buckets.Count < _maxKeys ? key : OverflowKey;
    }

    private readonly record struct Bucket(double Tokens, long At);
}

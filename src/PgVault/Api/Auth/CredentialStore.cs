using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Security;

namespace PgVault.Api.Auth;

/// <summary>An authenticated API principal and the clusters it may see.</summary>
public sealed record ApiPrincipal(string Name, ClusterScope Scope);

/// <summary>
/// The configured users and tokens, and their verification. Comparisons are constant-time. A verified Basic credential
/// is remembered (as an HMAC under a per-process random key, never in clear) for <see cref="BasicCacheTtl"/>, so the slow
/// password hash is paid once per client, not once per request.
/// </summary>
public sealed class CredentialStore
{
    public static readonly TimeSpan BasicCacheTtl = TimeSpan.FromMinutes(5);
    private const int BasicCacheMax = 10_000;

    private readonly Dictionary<string, (string Hash, ClusterScope Scope)> _users = new(StringComparer.Ordinal);
    private readonly List<(byte[] Digest, ApiPrincipal Principal)> _tokens = [];
    private readonly ConcurrentDictionary<string, (ApiPrincipal Principal, long ExpiresAt)> _basicCache = new(StringComparer.Ordinal);
    private readonly byte[] _cacheKey = RandomNumberGenerator.GetBytes(32);
    private readonly TimeProvider _time;
    private readonly Lock _tokensLock = new();
    private string _dummyHash;
    private long _passwordChecks;

    public CredentialStore(PgVaultOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _time = time;
        foreach (var u in options.Users)
            _users[u.Name] = (u.PasswordHash, ToScope(u.Clusters));
        foreach (var t in options.Tokens)
            AddToken(t);
        // Unknown users are checked against a hash of the highest configured cost, so timing does not reveal which
        // users exist.
        var iterations = options.Users
            .Select(u => PasswordHasher.TryParse(u.PasswordHash, out var parsed, out _) ? parsed.Iterations : PasswordHasher.MinIterations)
            .DefaultIfEmpty(PasswordHasher.MinIterations)
            .Max();
        _dummyHash = PasswordHasher.Hash(Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)), iterations);
    }

    /// <summary>True when no user and no token is configured (the zero-configuration start).</summary>
    public bool IsEmpty
    {
        get
        {
            lock (_tokensLock)
                return _users.Count == 0 && _tokens.Count == 0;
        }
    }

    public void AddToken(TokenOptions token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var digest = TokenHasher.DecodeHash(token.TokenHash)
                     ?? throw new ArgumentException($"token '{token.Name}' has a malformed hash", nameof(token));
        lock (_tokensLock)
            _tokens.Add((digest, new ApiPrincipal(token.Name, ToScope(token.Clusters))));
    }

    public ApiPrincipal? VerifyToken(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var digest = TokenHasher.Digest(token);
        ApiPrincipal? found = null;
        lock (_tokensLock)
        {
            // Compare against every token without stopping early.
            foreach (var (d, p) in _tokens)
            {
                if (CryptographicOperations.FixedTimeEquals(d, digest))
                    found = p;
            }
        }

        return found;
    }

    /// <summary>The principal of a Basic credential verified less than <see cref="BasicCacheTtl"/> ago (no hashing).</summary>
    public ApiPrincipal? FindVerified(string user, string password)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        return _basicCache.TryGetValue(CacheKey(user, password), out var cached) && cached.ExpiresAt > _time.GetTimestamp()
            ? cached.Principal
            : null;
    }

    /// <summary>Checks a Basic credential (the slow hash, unless it was verified recently).</summary>
    public ApiPrincipal? VerifyPassword(string user, string password)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        var cacheKey = CacheKey(user, password);
        var now = _time.GetTimestamp();
        if (_basicCache.TryGetValue(cacheKey, out var cached) && cached.ExpiresAt > now)
            return cached.Principal;

        Interlocked.Increment(ref _passwordChecks);
        if (!_users.TryGetValue(user, out var entry))
        {
            _ = PasswordHasher.Verify(password, _dummyHash);
            return null;
        }

        if (!PasswordHasher.Verify(password, entry.Hash))
            return null;

        var principal = new ApiPrincipal(user, entry.Scope);
        if (_basicCache.Count >= BasicCacheMax)
            _basicCache.Clear();
        _basicCache[cacheKey] = (principal, now + (long)(BasicCacheTtl.TotalSeconds * _time.TimestampFrequency));
        return principal;
    }

    /// <summary>A keyed hash of the credential: the cache never holds a password, nor anything that can be checked
    /// against one without the per-process key.</summary>
    private string CacheKey(string user, string password) =>
        Convert.ToBase64String(HMACSHA256.HashData(_cacheKey, Encoding.UTF8.GetBytes(user + "\0" + password)));

    private static ClusterScope ToScope(List<string> grants) =>
        grants.Contains(PgVaultOptionsValidator.AllClusters, StringComparer.Ordinal)
            ? ClusterScope.All
            : ClusterScope.Only(grants.Select(PgVaultOptionsValidator.CanonicalClusterId));

    internal void UseDummyHashForTests(string hash) => _dummyHash = hash;

    internal void ClearVerifiedForTests() => _basicCache.Clear();

    /// <summary>Slow password hashes computed so far (tests prove a refused attempt costs none).</summary>
    internal long PasswordChecks => Interlocked.Read(ref _passwordChecks);

    /// <summary>The hash unknown users are checked against (tests read its cost).</summary>
    internal string DummyHash => _dummyHash;
}

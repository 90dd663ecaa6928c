using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using PgVault.Api.Auth;
using PgVault.Api.Limits;
using PgVault.Configuration;
using PgVault.Security;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>
/// Wrong HTTP Basic credentials cannot make the server hash without bound: failed logins are throttled per client
/// address and per user name before the hash, password checks run a bounded number at a time, unknown users cost the
/// highest configured hash, and hashes too expensive to check are refused in the configuration.
/// </summary>
public sealed class LoginFloodTests
{
    private const string Password = "flood-Pw-Marmot-7731";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, string?> Settings(int burst, double perMinute) => new()
    {
        ["PgVault:Users:0:Name"] = "alice",
        ["PgVault:Users:0:PasswordHash"] = PasswordHasher.Hash(Password, PasswordHasher.MinIterations),
        ["PgVault:Users:0:Clusters:0"] = "*",
        ["PgVault:RateLimit:PermitsPerSecond"] = "0",
        ["PgVault:RateLimit:FailedLoginBurst"] = burst.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["PgVault:RateLimit:FailedLoginsPerMinute"] = perMinute.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    [Fact]
    public async Task Failed_logins_beyond_the_burst_answer_429_without_hashing_and_a_verified_credential_still_works()
    {
        await using var server = await ApiServer.StartAsync("login-flood", Settings(burst: 3, perMinute: 1));
        var credentials = server.Services.GetRequiredService<CredentialStore>();
        using var good = server.Client(Basic("alice", Password));
        Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(good, "/clusters")).Status); // verified, and remembered

        using var wrong = server.Client(Basic("alice", "wrong"));
        for (var i = 0; i < 3; i++)
        {
            var (_, body, response) = await Json.GetAsync(wrong, "/clusters");
            Json.AssertError(response, body, HttpStatusCode.Unauthorized);
        }

        var checks = credentials.PasswordChecks;
        using var unknown = server.Client(Basic("mallory", "x"));
        using var other = server.Client(Basic("alice", Password + "!"));
        foreach (var client in new[] { wrong, unknown, other })
        {
            var (_, body, response) = await Json.GetAsync(client, "/clusters");
            var (code, message) = Json.AssertError(response, body, HttpStatusCode.TooManyRequests);
            Assert.Equal("PGV-0110", code);
            Assert.Contains("failed logins", message, StringComparison.Ordinal);
            Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "Retry-After of at least 1 s");
        }

        Assert.Equal(checks, credentials.PasswordChecks); // refused before the hash
        Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(good, "/clusters")).Status); // the verified credential
        Assert.Contains(server.Logs.Lines, l => l.Contains(Audit.Category, StringComparison.Ordinal)
                                                && l.Contains("Outcome=throttled", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Successful_logins_do_not_use_up_the_failure_allowance()
    {
        await using var server = await ApiServer.StartAsync("login-success", Settings(burst: 2, perMinute: 1));
        for (var i = 0; i < 6; i++)
        {
            // A new credential each time (a new password hash check), all correct.
            using var client = server.Client(Basic("alice", Password));
            server.Services.GetRequiredService<CredentialStore>().ClearVerifiedForTests();
            Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(client, "/clusters")).Status);
        }
    }

    [Fact]
    public void The_throttle_counts_per_address_and_per_user_name()
    {
        var clock = new SteppedClock();
        var throttle = new LoginThrottle(Options(burst: 2, perMinute: 6), clock);
        Assert.True(throttle.TryBegin("10.0.0.1", "bob", out _));
        Assert.True(throttle.TryBegin("10.0.0.1", "bob", out _));
        Assert.False(throttle.TryBegin("10.0.0.1", "carol", out var wait)); // the address is used up
        Assert.Equal(TimeSpan.FromSeconds(10), wait);
        Assert.False(throttle.TryBegin("10.0.0.2", "bob", out _)); // and so is the user name, from any address
        Assert.True(throttle.TryBegin("10.0.0.2", "carol", out _));
        clock.Advance(TimeSpan.FromSeconds(9.9));
        Assert.False(throttle.TryBegin("10.0.0.1", "dave", out _));
        clock.Advance(TimeSpan.FromSeconds(0.1)); // 6 a minute: one every 10 s
        Assert.True(throttle.TryBegin("10.0.0.1", "dave", out _));
        throttle.Succeeded("10.0.0.1", "dave"); // a success gives its attempt back
        Assert.True(throttle.TryBegin("10.0.0.1", "erin", out _));
    }

    [Fact]
    public async Task At_most_the_configured_number_of_password_checks_run_at_once()
    {
        var options = Options(burst: 100, perMinute: 100);
        options.RateLimit.MaxConcurrentPasswordChecks = 1;
        var throttle = new LoginThrottle(options, TimeProvider.System);
        using var first = await throttle.EnterCheckAsync(Ct);
        Assert.NotNull(first);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Null(await throttle.EnterCheckAsync(Ct)); // waits for the slot, bounded
        Assert.True(clock.Elapsed >= LoginThrottle.SlotWait - TimeSpan.FromMilliseconds(50));
        first!.Dispose();
        using var second = await throttle.EnterCheckAsync(Ct);
        Assert.NotNull(second);
    }

    [Fact]
    public void Unknown_users_are_checked_against_the_most_expensive_configured_hash()
    {
        var options = new PgVaultOptions();
        options.Users.Add(new UserOptions { Name = "a", PasswordHash = PasswordHasher.Hash("x", 20_000), Clusters = ["*"] });
        options.Users.Add(new UserOptions { Name = "b", PasswordHash = PasswordHasher.Hash("y", 30_000), Clusters = ["*"] });
        var store = new CredentialStore(options, TimeProvider.System);
        Assert.True(PasswordHasher.TryParse(store.DummyHash, out var parsed, out _));
        Assert.Equal(30_000, parsed.Iterations);
        Assert.Null(store.VerifyPassword("nobody", "x"));
    }

    [Fact]
    public void Hashes_too_expensive_to_check_are_refused()
    {
        var salt = Convert.ToBase64String(new byte[16]);
        var hash = Convert.ToBase64String(new byte[32]);
        var options = new PgVaultOptions();
        options.Users.Add(new UserOptions { Name = "a", PasswordHash = $"$pbkdf2-sha256$i=50000000${salt}${hash}", Clusters = ["*"] });
        options.RateLimit.FailedLoginsPerMinute = 0;
        var errors = PgVaultOptionsValidator.Validate(options);
        Assert.Contains(errors, e => e.StartsWith("PgVault:Users:0:PasswordHash", StringComparison.Ordinal)
                                     && e.Contains("maximum", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgVault:RateLimit:FailedLoginsPerMinute", StringComparison.Ordinal));
        Assert.Throws<ArgumentOutOfRangeException>(() => PasswordHasher.Hash("x", PasswordHasher.MaxIterations + 1));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(2)]
    [InlineData(0.1)]
    [InlineData(15)]
    public void Token_buckets_refill_at_exactly_the_configured_rate(double perSecond)
    {
        var clock = new SteppedClock();
        // Capacity 2: a bucket never fills between two steps, so no token is lost to the cap.
        var buckets = new TokenBuckets(perSecond, 2, 10, clock);
        Assert.True(buckets.TryTake("k", out _));
        Assert.True(buckets.TryTake("k", out _));
        var taken = 0;
        var step = TimeSpan.FromMilliseconds(10);
        var span = TimeSpan.FromSeconds(Math.Max(10, 20 / perSecond));
        for (var t = TimeSpan.Zero; t < span; t += step)
        {
            clock.Advance(step);
            if (buckets.TryTake("k", out _))
                taken++;
        }

        var expected = perSecond * span.TotalSeconds;
        Assert.InRange(taken, expected - 1, expected + 1);
    }

    [Fact]
    public void Token_buckets_stay_bounded_whatever_keys_arrive()
    {
        var clock = new SteppedClock();
        var buckets = new TokenBuckets(1, 1, 100, clock);
        for (var i = 0; i < 10_000; i++)
            buckets.TryTake("key-" + i, out _);
        Assert.True(buckets.Count <= 101, $"{buckets.Count} buckets");
        clock.Advance(TimeSpan.FromSeconds(2)); // all refilled: dropped at the next sweep
        Assert.True(buckets.TryTake("new", out _));
        Assert.True(buckets.Count <= 2, $"{buckets.Count} buckets after the sweep");
    }

    [Fact]
    public async Task The_request_rate_limit_holds_a_rate_below_ten_per_second()
    {
        var settings = new Dictionary<string, string?>
        {
            ["PgVault:Tokens:0:Name"] = "t",
            ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(SeededApi.AdminToken),
            ["PgVault:Tokens:0:Clusters:0"] = "*",
            ["PgVault:RateLimit:PermitsPerSecond"] = "2",
            ["PgVault:RateLimit:Burst"] = "1",
        };
        await using var server = await ApiServer.StartAsync("rate-exact", settings);
        using var client = server.Client(SeededApi.AdminToken);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ok = 0;
        var sent = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(2))
        {
            sent++;
            if ((await Json.GetAsync(client, "/clusters")).Status == HttpStatusCode.OK)
                ok++;
        }

        // 1 (the burst) + 2/s over the elapsed time, with one of slack for the edges.
        var most = 1 + (2 * clock.Elapsed.TotalSeconds) + 1;
        Assert.True(ok <= most, $"{ok} of {sent} requests accepted in {clock.Elapsed.TotalSeconds:0.00} s; at most {most:0.0} expected");
    }

    private static PgVaultOptions Options(int burst, double perMinute)
    {
        var options = new PgVaultOptions();
        options.RateLimit.FailedLoginBurst = burst;
        options.RateLimit.FailedLoginsPerMinute = perMinute;
        return options;
    }

    /// <summary>A clock whose timestamps the test advances.</summary>
    private sealed class SteppedClock : TimeProvider
    {
        private long _ticks = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}

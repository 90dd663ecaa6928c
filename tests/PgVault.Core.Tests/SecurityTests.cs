using PgVault.Security;
using Xunit;

namespace PgVault.Core.Tests;

public sealed class SecurityTests
{
    [Fact]
    public void A_password_hash_verifies_only_its_password_and_is_salted()
    {
        var a = PasswordHasher.Hash("s3cret", PasswordHasher.MinIterations);
        var b = PasswordHasher.Hash("s3cret", PasswordHasher.MinIterations);
        Assert.NotEqual(a, b);
        Assert.StartsWith("$pbkdf2-sha256$i=10000$", a, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", a, StringComparison.Ordinal);
        Assert.True(PasswordHasher.Verify("s3cret", a));
        Assert.False(PasswordHasher.Verify("s3cret ", a));
        Assert.False(PasswordHasher.Verify("", a));
    }

    [Fact]
    public void The_default_cost_is_the_OWASP_recommendation()
    {
        Assert.Equal(600_000, PasswordHasher.DefaultIterations);
        Assert.True(PasswordHasher.TryParse(PasswordHasher.Hash("x"), out var parsed, out _));
        Assert.Equal(600_000, parsed.Iterations);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("plain")]
    [InlineData("$pbkdf2-sha256$i=100$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==")] // too few iterations
    [InlineData("$pbkdf2-sha256$i=10000$not base64$aGFzaGhhc2hoYXNoaGFzaA==")]
    [InlineData("$pbkdf2-sha256$10000$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==")]
    public void Malformed_or_weak_hashes_are_refused(string? hash)
    {
        Assert.False(PasswordHasher.TryParse(hash, out _, out var reason));
        Assert.NotEmpty(reason);
        Assert.False(PasswordHasher.Verify("x", hash ?? ""));
    }

    [Fact]
    public void Tokens_are_long_random_and_stored_as_sha256()
    {
        var t1 = TokenHasher.NewToken();
        var t2 = TokenHasher.NewToken();
        Assert.NotEqual(t1, t2);
        Assert.Matches("^pgv_[A-Za-z0-9_-]{43}$", t1);
        var hash = TokenHasher.Hash(t1);
        Assert.True(TokenHasher.IsValidHash(hash));
        Assert.Equal(TokenHasher.Digest(t1), TokenHasher.DecodeHash(hash));
        Assert.False(TokenHasher.IsValidHash("sha256:xyz"));
        Assert.False(TokenHasher.IsValidHash(t1));
        Assert.Null(TokenHasher.DecodeHash("md5:00"));
    }
}

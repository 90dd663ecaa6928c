using System.Net;
using Amazon.S3;
using Microsoft.Extensions.Logging.Abstractions;
using PgVault.Storage.S3;
using Xunit;

namespace PgVault.Storage.Tests;

/// <summary>The retry policy's decisions, without a server.</summary>
public sealed class S3RetryTests
{
    private static S3Retry Retry() => new(new S3ObjectStoreOptions { Bucket = "b", MaxAttempts = 3, RetryBaseDelay = TimeSpan.FromMilliseconds(5) }, NullLogger.Instance);

    [Fact]
    public async Task A_failure_of_an_attempt_while_the_caller_cancels_is_reported_as_the_cancellation()
    {
        // A part of a multipart write gave up and cancelled the others; one of them gets a 503 at that moment. Reported as
        // a failure (RepositoryUnavailable without "gave up after N attempts"), it could hide the part that gave up.
        foreach (var error in new Exception[]
                 {
                     new AmazonS3Exception("unavailable") { StatusCode = HttpStatusCode.ServiceUnavailable },
                     new AmazonS3Exception("denied") { StatusCode = HttpStatusCode.Forbidden },
                     new IOException("connection reset"),
                 })
        {
            using var cts = new CancellationTokenSource();
            var ex = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Retry().RunAsync<int>("upload part 2 of 'k'", async t =>
            {
                await cts.CancelAsync();
                throw error;
            }, cts.Token));
            Assert.Equal(cts.Token, ex.CancellationToken);
            Assert.Same(error, ex.InnerException);
        }
    }

    [Fact]
    public async Task Without_cancellation_a_transient_failure_is_retried_and_gives_up_naming_the_attempts()
    {
        var retry = Retry();
        var ex = await Assert.ThrowsAsync<PgVault.Errors.PgVaultException>(() => retry.RunAsync<int>("upload part 2 of 'k'",
            _ => throw new AmazonS3Exception("unavailable") { StatusCode = HttpStatusCode.ServiceUnavailable },
            TestContext.Current.CancellationToken));
        Assert.Contains("gave up after 3 attempts", ex.Message, StringComparison.Ordinal);
        Assert.Equal(2, retry.RetryCount);
    }
}

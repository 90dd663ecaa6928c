using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Microsoft.Extensions.Logging;
using PgVault.Errors;

namespace PgVault.Storage.S3;

/// <summary>
/// The retry policy of <see cref="S3ObjectStore"/>: each attempt bounded by
/// <see cref="S3ObjectStoreOptions.RequestTimeout"/>; 5xx, 429 and S3's throttling codes, timeouts and connection
/// failures retried with exponential backoff and jitter (half the delay fixed, half random: attempts spread out but
/// never come back sooner than half the backoff). A <c>Retry-After</c> is waited for by <see cref="RetryAfterHandler"/>
/// before the SDK sees the response. After the last attempt the error becomes a
/// <see cref="ErrorCode.RepositoryUnavailable"/> naming the operation.
/// </summary>
internal sealed class S3Retry(S3ObjectStoreOptions options, ILogger logger)
{
    private static readonly HashSet<string> TransientCodes = new(StringComparer.Ordinal)
    {
        "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed", "InternalError",
        "ServiceUnavailable", "OperationAborted",
        // The body did not arrive as its Content-MD5 says: damaged in transit; the part is sent again from its buffer.
        "BadDigest",
    };

    public int MaxAttempts => options.MaxAttempts;

    public TimeSpan RequestTimeout => options.RequestTimeout;

    /// <summary>Retries (not first attempts) made so far, for tests and diagnostics.</summary>
    public int RetryCount => _retries;

    private int _retries;

    public async Task<T> RunAsync<T>(string what, Func<CancellationToken, Task<T>> operation, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            ct.ThrowIfCancellationRequested();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(options.RequestTimeout);
            Exception failure;
            try
            {
                return await operation(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (!ct.IsCancellationRequested && IsTransient(ex, timeout.IsCancellationRequested))
            {
                failure = ex;
            }
            catch (Exception ex) when (ct.IsCancellationRequested && ex is not OperationCanceledException)
            {
                // The caller cancelled while the attempt failed (a 503 or a reset racing the cancellation): the caller's
                // cancellation is what happened. Reported as a failure, it would hide the real cause (e.g. the part
                // of a multipart write that gave up and cancelled the others).
                throw new OperationCanceledException($"cancelled while trying to {what} ({Describe(ex)})", ex, ct);
            }
            catch (AmazonServiceException ex)
            {
                // Not worth retrying (denied, no such bucket, bad request): say what failed, with what the operator can do.
                throw new PgVaultException(ErrorCode.RepositoryUnavailable, $"unable to {what}: {Describe(ex)}", Hint(ex), ex);
            }
            catch (AmazonClientException ex)
            {
                throw new PgVaultException(ErrorCode.RepositoryUnavailable, $"unable to {what}: {ex.Message}",
                    "check the location's Endpoint, Region and credentials (AccessKeyId/SecretAccessKey, or the AWS environment)", ex);
            }

            if (attempt >= options.MaxAttempts)
            {
                throw new PgVaultException(ErrorCode.RepositoryUnavailable,
                    $"unable to {what}: {Describe(failure)} (gave up after {attempt} attempts)",
                    "check that the S3 service is reachable and healthy; PgVault retries the backup later", failure);
            }

            var delay = Backoff(attempt);
            Interlocked.Increment(ref _retries);
            logger.LogDebug("unable to {What}: {Error}; attempt {Attempt} of {Max} in {Delay} ms", what, Describe(failure),
                attempt + 1, options.MaxAttempts, (int)delay.TotalMilliseconds);
            await Task.Delay(delay, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The backoff before attempt <paramref name="attempt"/> + 1.</summary>
    public TimeSpan Backoff(int attempt)
    {
        var exponential = options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 20));
        var capped = Math.Min(exponential, options.RetryMaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped / 2 + Random.Shared.NextDouble() * capped / 2);
    }

    /// <summary>Whether a failure may pass when tried again. <paramref name="timedOut"/>: the attempt's own timeout fired.</summary>
    public static bool IsTransient(Exception ex, bool timedOut)
    {
        switch (ex)
        {
            case OperationCanceledException:
                return timedOut;
            case AmazonServiceException s:
                return (int)s.StatusCode >= 500 || s.StatusCode == HttpStatusCode.TooManyRequests
                    || (s.ErrorCode is { } code && TransientCodes.Contains(code))
                    || ((int)s.StatusCode == 0 && s.InnerException is not null && IsTransient(s.InnerException, timedOut));
            case HttpRequestException or IOException or SocketException or TimeoutException:
                return true;
            case AmazonClientException when ex.InnerException is { } inner:
                return IsTransient(inner, timedOut);
            default:
                return false;
        }
    }

    private static string? Hint(AmazonServiceException ex) => ex.StatusCode switch
    {
        HttpStatusCode.Forbidden => "check the location's credentials and that they may read, write, list and delete in the bucket",
        HttpStatusCode.NotFound when string.Equals(ex.ErrorCode, "NoSuchBucket", StringComparison.Ordinal) =>
            "the bucket does not exist: create it, or fix the location's Bucket, Endpoint or ForcePathStyle",
        HttpStatusCode.MovedPermanently or HttpStatusCode.Redirect or HttpStatusCode.TemporaryRedirect =>
            "the bucket is in another region: fix the location's Region (or Endpoint)",
        _ => null,
    };

    private static string Describe(Exception ex) => ex switch
    {
        AmazonServiceException s => $"{(int)s.StatusCode} {s.ErrorCode} {s.Message}".Trim(),
        OperationCanceledException => "the request timed out",
        _ => ex.Message,
    };
}

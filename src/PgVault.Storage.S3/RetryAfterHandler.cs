using System.Net;
using Amazon.Runtime;

namespace PgVault.Storage.S3;

/// <summary>
/// Honours <c>Retry-After</c>: a 429 or 503 answer carrying it is held back until that time has passed (at most
/// <paramref name="maxDelay"/>) before the SDK sees it, so the retry that <see cref="S3Retry"/> then makes (after its
/// own backoff) comes no sooner than the service asked.
/// </summary>
internal sealed class RetryAfterHandler(HttpMessageHandler inner, TimeSpan maxDelay) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable
            && response.Headers.RetryAfter is { } retryAfter)
        {
            var delay = retryAfter.Delta ?? (retryAfter.Date is { } date ? date - DateTimeOffset.UtcNow : TimeSpan.Zero);
            if (delay > maxDelay)
                delay = maxDelay;
            if (delay > TimeSpan.Zero)
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }

        return response;
    }
}

/// <summary>The SDK's HTTP clients, with <see cref="RetryAfterHandler"/> in their pipeline.</summary>
internal sealed class S3HttpClientFactory(TimeSpan maxRetryAfter) : HttpClientFactory
{
    public override HttpClient CreateHttpClient(IClientConfig clientConfig)
    {
        ArgumentNullException.ThrowIfNull(clientConfig);
        var sockets = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(50),
        };
#pragma warning disable CA2000 // the HttpClient owns and disposes the handler chain
        var client = new HttpClient(new RetryAfterHandler(sockets, maxRetryAfter), disposeHandler: true);
#pragma warning restore CA2000
        client.Timeout = Timeout.InfiniteTimeSpan;   // each attempt is bounded by S3Retry
        return client;
    }

    public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => true;

    public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;

    public override string GetConfigUniqueString(IClientConfig clientConfig) => "pgvault-s3:" + maxRetryAfter.Ticks;
}

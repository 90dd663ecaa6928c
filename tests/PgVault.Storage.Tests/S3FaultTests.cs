using System.Diagnostics;
using PgVault.Errors;
using PgVault.Storage.S3;
using PgVault.Testing;
using Xunit;

namespace PgVault.Storage.Tests;

/// <summary>
/// The S3 store through <see cref="FaultProxy"/>: 5xx, 429 with Retry-After, connection resets before and during
/// responses, and slow answers. Writes (single PUT and multipart), reads, listings, stats and deletes still succeed,
/// and what was read is what was written.
/// </summary>
[Trait("Category", "S3")]
public sealed class S3FaultTests(S3ServerFixture fixture) : IClassFixture<S3ServerFixture>
{
    /// <summary>Long enough for a 5 MiB part on a busy 2-core machine; a slow answer takes longer, so it times out.</summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(3);

    private static readonly TimeSpan SlowDelay = TimeSpan.FromSeconds(3.5);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(Fault.InternalError)]
    [InlineData(Fault.ServiceUnavailable)]
    [InlineData(Fault.TooManyRequests)]
    [InlineData(Fault.ResetBeforeResponse)]
    [InlineData(Fault.ResetMidResponse)]
    [InlineData(Fault.Slow)]
    public async Task Every_operation_survives_a_fault_on_every_other_request(Fault fault)
    {
        await using var proxy = new FaultProxy(fixture.Server.Endpoint) { SlowDelay = SlowDelay };
        var options = fixture.Server.StoreOptions("fault", proxy.Endpoint) with { RequestTimeout = RequestTimeout };
        using var store = new S3ObjectStore(options);
        proxy.SetPolicy((_, _, n) => n % 2 == 1 ? fault : Fault.None);
        var small = TestData.Bytes(100_000, 1);
        var large = TestData.Bytes(12 * 1024 * 1024, 2);   // 3 parts

        await store.WriteAsync("f/small", new MemoryStream(small), Ct);
        await store.WriteAsync("f/large", new MemoryStream(large), Ct);
        Assert.Equal(small, await ReadAllAsync(store, "f/small"));
        Assert.Equal(large, await ReadAllAsync(store, "f/large"));
        Assert.Equal(large.AsSpan(5_000_000, 10_000).ToArray(), await ReadAllAsync(store, "f/large", new ReadRange(5_000_000, 10_000)));
        Assert.Equal(100_000, (await store.StatAsync("f/small", Ct))!.SizeBytes);
        Assert.Equal(["f/large", "f/small"], await ListKeysAsync(store));
        await store.DeleteAsync(["f/small"], Ct);
        Assert.Equal(["f/large"], await ListKeysAsync(store));

        Assert.True(proxy.FaultCount >= 8, string.Join("\n", proxy.Log));
        await AssertNoUploadLeftAfterCleanupAsync(store);
    }

    /// <summary>
    /// A request the client gave up on (timed out, connection reset) may still reach the server: a multipart upload
    /// started that way is never completed nor aborted by the write, which retried and went on with another one. It is
    /// invisible (never listed, never read), and the abandoned-upload cleanup removes it.
    /// </summary>
    private static async Task AssertNoUploadLeftAfterCleanupAsync(S3ObjectStore store)
    {
        var pending = await store.ListPendingUploadsAsync(Ct);
        Assert.Equal(pending.Count, await store.AbortAbandonedUploadsAsync(TimeSpan.Zero, Ct));
        Assert.Empty(await store.ListPendingUploadsAsync(Ct));
    }

    [Fact]
    public async Task Parts_go_up_in_parallel_and_no_more_than_the_concurrency_at_once()
    {
        await using var proxy = new FaultProxy(fixture.Server.Endpoint);
        using var store = new S3ObjectStore(fixture.Server.StoreOptions("parallel", proxy.Endpoint) with { UploadConcurrency = 3 });
        var content = TestData.Bytes(31 * 1024 * 1024, 12);   // 7 parts

        await store.WriteAsync("p/object", new MemoryStream(content), Ct);

        Assert.Equal(7, proxy.Log.Count(l => l.Contains("partNumber=", StringComparison.Ordinal)));
        Assert.InRange(proxy.MaxConcurrentRequests, 2, 3);
        Assert.Equal(content, await ReadAllAsync(store, "p/object"));
    }

    /// <summary>The object "r/object" written straight to the server under a new prefix, and a store of that prefix
    /// (configured by <paramref name="configure"/>) that reads it through a new proxy.</summary>
    private async Task<(FaultProxy Proxy, S3ObjectStore Store)> WrittenThenProxiedAsync(string name, byte[] content,
        Func<S3ObjectStoreOptions, S3ObjectStoreOptions> configure)
    {
        var options = fixture.Server.StoreOptions(name);
        using (var writer = new S3ObjectStore(options))
            await writer.WriteAsync("r/object", new MemoryStream(content), Ct);
        var proxy = new FaultProxy(fixture.Server.Endpoint);
        return (proxy, new S3ObjectStore(configure(options with { Endpoint = proxy.Endpoint })));
    }

    [Fact]
    public async Task A_large_object_is_read_as_parallel_ranges_and_no_more_than_the_concurrency_at_once()
    {
        var content = TestData.Bytes(31 * 1024 * 1024, 13);   // 7 parts of 5 MiB
        var (proxy, store) = await WrittenThenProxiedAsync("ranges", content, o => o with { ReadConcurrency = 3 });
        await using var disposeProxy = proxy;
        using var disposeStore = store;

        Assert.Equal(content, await ReadAllAsync(store, "r/object"));

        Assert.Equal(7, proxy.Log.Count(l => l.StartsWith("GET ", StringComparison.Ordinal)));
        Assert.InRange(proxy.MaxConcurrentRequests, 2, 3);
    }

    [Fact]
    public async Task A_range_that_fails_for_good_fails_the_read_and_every_read_after_it()
    {
        var content = TestData.Bytes(10 * 1024 * 1024, 14);   // 2 ranges of 5 MiB
        var (proxy, store) = await WrittenThenProxiedAsync("lost-range", content, o => o with { ReadConcurrency = 2, MaxAttempts = 2 });
        await using var disposeProxy = proxy;
        using var disposeStore = store;
        // The first GET (the first range) goes through; every later one fails: the second range is lost.
        proxy.SetPolicy((method, _, n) => method == "GET" && n > 1 ? Fault.InternalError : Fault.None);

        // A reader with a checksum of its own: no ETag check at the end would notice a range missing.
        await using var stream = await store.OpenReadVerifiedByCallerAsync("r/object", ReadRange.All, Ct);
        var buffer = new byte[1024 * 1024];
        var read = 0;
        var ex = await Assert.ThrowsAsync<PgVaultException>(async () =>
        {
            while (true)
            {
                var n = await stream.ReadAsync(buffer, Ct);
                Assert.NotEqual(0, n);
                read += n;
            }
        });
        Assert.Equal(ErrorCode.RepositoryUnavailable, ex.Code);
        Assert.Equal(5 * 1024 * 1024, read);   // the first range, then the failure
        // A reader trying again gets the same failure, not the end of the stream.
        var again = await Assert.ThrowsAsync<PgVaultException>(async () => _ = await stream.ReadAtLeastAsync(buffer, 1, throwOnEndOfStream: false, Ct));
        Assert.Equal(ErrorCode.RepositoryUnavailable, again.Code);
    }

    [Fact]
    public async Task A_part_damaged_in_transit_is_refused_by_its_checksum_and_sent_again()
    {
        await using var proxy = new FaultProxy(fixture.Server.Endpoint);
        using var store = new S3ObjectStore(fixture.Server.StoreOptions("digest", proxy.Endpoint));
        using var direct = new S3ObjectStore(fixture.Server.StoreOptions("digest") with { Prefix = store.Prefix });
        proxy.SetPolicy(FirstOf(proxy, "partNumber=2&", Fault.CorruptRequestBody));
        var content = TestData.Bytes(12 * 1024 * 1024, 13);

        await store.WriteAsync("d/object", new MemoryStream(content), Ct);

        // The server refused the damaged part (BadDigest), the store sent it again, and the object is intact.
        Assert.Equal(2, proxy.Log.Count(l => l.Contains("partNumber=2&", StringComparison.Ordinal)));
        Assert.Contains(proxy.Log, l => l.Contains("partNumber=2&", StringComparison.Ordinal) && l.EndsWith("CorruptRequestBody", StringComparison.Ordinal));
        Assert.Equal(content, await ReadAllAsync(direct, "d/object"));

        // A single PUT is checked the same way.
        proxy.SetPolicy(FirstOf(proxy, "/small", Fault.CorruptRequestBody));
        await store.WriteAsync("d/small", new MemoryStream(TestData.Bytes(3000, 14)), Ct);
        Assert.Equal(TestData.Bytes(3000, 14), await ReadAllAsync(direct, "d/small"));
        Assert.Equal(2, proxy.Log.Count(l => l.StartsWith("PUT", StringComparison.Ordinal) && l.Contains("/small", StringComparison.Ordinal)));
    }

    /// <summary>The fault for the first request whose target contains <paramref name="marker"/>, none for the others.</summary>
    private static Func<string, string, int, Fault> FirstOf(FaultProxy proxy, string marker, Fault fault)
    {
        var done = 0;
        return (_, target, _) => target.Contains(marker, StringComparison.Ordinal) && Interlocked.Exchange(ref done, 1) == 0
            ? fault
            : Fault.None;
    }

    [Fact]
    public async Task Retry_After_is_honoured()
    {
        await using var proxy = new FaultProxy(fixture.Server.Endpoint);
        using var store = new S3ObjectStore(fixture.Server.StoreOptions("retry-after", proxy.Endpoint));
        proxy.SetPolicy((_, _, n) => n == 1 ? Fault.TooManyRequests : Fault.None);
        var watch = Stopwatch.StartNew();

        await store.WriteAsync("k", new MemoryStream([1, 2, 3]), Ct);

        // The base backoff is 20 ms: the second attempt waited for the 1 s the server asked for.
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.95), $"retried after {watch.ElapsedMilliseconds} ms");
        Assert.Equal([1, 2, 3], await ReadAllAsync(store, "k"));
        Assert.Equal(2, proxy.Log.Count(l => l.StartsWith("PUT", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_random_fifth_of_requests_failing_loses_nothing()
    {
        // Twelve writes at once (three of them multipart) through one proxy into one S3 server process: on a busy
        // 2-core machine a healthy 5 MiB part can take longer than the 3 s the one-request-at-a-time tests allow, and
        // each retry of such a timeout meets the same congestion. So this test keeps the default request timeout and
        // leaves slow answers out of its faults (the theory above times them out one request at a time).
        await using var proxy = new FaultProxy(fixture.Server.Endpoint);
        using var store = new S3ObjectStore(fixture.Server.StoreOptions("random", proxy.Endpoint));
        proxy.SetPolicy(FaultProxy.Random(0.2, seed: 20261126, Fault.InternalError, Fault.ServiceUnavailable, Fault.TooManyRequests,
            Fault.ResetBeforeResponse, Fault.ResetMidResponse));
        var contents = Enumerable.Range(0, 12).ToDictionary(i => $"r/{i:D2}", i => TestData.Bytes(i % 4 == 0 ? 11 * 1024 * 1024 : 50_000 + i, i));

        try
        {
            await Task.WhenAll(contents.Select(kv => store.WriteAsync(kv.Key, new MemoryStream(kv.Value), Ct)));
        }
        catch
        {
            TestContext.Current.SendDiagnosticMessage("requests through the proxy:\n" + string.Join("\n", proxy.Log));
            throw;
        }

        Assert.Equal(contents.Keys.Order(StringComparer.Ordinal), await ListKeysAsync(store));
        foreach (var (key, content) in contents)
            Assert.Equal(content, await ReadAllAsync(store, key));
        Assert.True(proxy.FaultCount > 5, string.Join("\n", proxy.Log));
        await AssertNoUploadLeftAfterCleanupAsync(store);
    }

    [Fact]
    public async Task A_service_down_for_good_fails_with_RepositoryUnavailable_and_leaves_nothing()
    {
        await using var proxy = new FaultProxy(fixture.Server.Endpoint);
        var options = fixture.Server.StoreOptions("down", proxy.Endpoint) with { MaxAttempts = 3 };
        using var store = new S3ObjectStore(options);
        using var direct = new S3ObjectStore(options with { Endpoint = fixture.Server.Endpoint });
        // Parts fail for good; everything else (start, abort) works.
        proxy.SetPolicy((method, target, _) => method == "PUT" && target.Contains("partNumber=", StringComparison.Ordinal)
            ? Fault.ServiceUnavailable
            : Fault.None);

        var ex = await Assert.ThrowsAsync<PgVaultException>(() => store.WriteAsync("d/object", new MemoryStream(TestData.Bytes(11 * 1024 * 1024)), Ct));

        Assert.Equal(ErrorCode.RepositoryUnavailable, ex.Code);
        Assert.Contains("'d/object'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("3 attempts", ex.Message, StringComparison.Ordinal);
        Assert.Null(await direct.StatAsync("d/object", Ct));
        Assert.Empty(await direct.ListPendingUploadsAsync(Ct));   // the failed write aborted its upload
    }

    private static async Task<byte[]> ReadAllAsync(IObjectStore store, string key, ReadRange? range = null)
    {
        await using var stream = await store.OpenReadAsync(key, range ?? ReadRange.All, Ct);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, Ct);
        return copy.ToArray();
    }

    private static async Task<string[]> ListKeysAsync(IObjectStore store)
    {
        var keys = new List<string>();
        await foreach (var info in store.ListAsync("", Ct))
            keys.Add(info.Key);
        return [.. keys];
    }
}

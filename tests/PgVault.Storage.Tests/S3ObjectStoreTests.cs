using PgVault.Storage.S3;
using PgVault.Testing;
using Xunit;

namespace PgVault.Storage.Tests;

/// <summary>
/// The contract against a real S3-protocol server on loopback (<see cref="S3Server"/>), each store under its own prefix
/// of the bucket, with 5 MiB parts so that the contract's larger objects go as multipart uploads. Plus what only S3
/// shows: parts in parallel, aborted uploads, and the abandoned-upload cleanup.
/// </summary>
[Trait("Category", "S3")]
public sealed class S3ObjectStoreTests(S3ServerFixture fixture) : ObjectStoreContract, IClassFixture<S3ServerFixture>, IDisposable
{
    private readonly List<S3ObjectStore> _stores = [];

    protected override string ExpectedKind => "s3";

    protected override IObjectStore CreateStore() => CreateS3();

    public void Dispose()
    {
        foreach (var store in _stores)
            store.Dispose();
    }

    private S3ObjectStore CreateS3(Func<S3ObjectStoreOptions, S3ObjectStoreOptions>? configure = null)
    {
        var options = fixture.Server.StoreOptions("s3");
        var store = new S3ObjectStore(configure is null ? options : configure(options));
        _stores.Add(store);
        return store;
    }

    [Fact]
    public void Options_never_print_credentials()
    {
        var options = fixture.Server.StoreOptions("print") with { AccessKeyId = "AKIAEXAMPLE", SecretAccessKey = "wJalrXUtnFEMI/K7MDENG", SessionToken = "tok3n" };
        using var store = new S3ObjectStore(options);

        foreach (var text in new[] { options.ToString(), store.ToString() })
        {
            Assert.DoesNotContain("AKIAEXAMPLE", text, StringComparison.Ordinal);
            Assert.DoesNotContain("wJalrXUtnFEMI", text, StringComparison.Ordinal);
            Assert.DoesNotContain("tok3n", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_missing_bucket_fails_at_once_with_RepositoryUnavailable_and_a_hint()
    {
        var store = CreateS3(o => o with { Bucket = "no-such-bucket" });

        var ex = await Assert.ThrowsAsync<Errors.PgVaultException>(() => WriteAsync(store, "k", [1]));

        Assert.Equal(Errors.ErrorCode.RepositoryUnavailable, ex.Code);
        Assert.Contains("NoSuchBucket", ex.Message, StringComparison.Ordinal);
        Assert.Contains("bucket does not exist", ex.Hint, StringComparison.Ordinal);
        await Assert.ThrowsAsync<Errors.PgVaultException>(() => ListAsync(store, ""));
    }

    [Fact]
    public async Task Stores_under_different_prefixes_do_not_see_each_other()
    {
        var a = CreateS3();
        var b = CreateS3();
        await WriteAsync(a, "k", [1]);

        Assert.Empty(await ListAsync(b, ""));
        Assert.Null(await b.StatAsync("k", Ct));
        Assert.Equal(["k"], (await ListAsync(a, "")).Select(o => o.Key));
    }

    [Fact]
    public async Task A_large_object_goes_up_in_parallel_parts_and_reads_back_verified()
    {
        var store = CreateS3(o => o with { UploadConcurrency = 3 });
        var content = TestData.Bytes(23 * 1024 * 1024 + 11, 21);   // 5 parts of 5 MiB (the last one short)

        var info = await store.WriteAsync("big/object", new NonSeekable(content), Ct);

        Assert.Equal(content.Length, info.SizeBytes);
        Assert.Equal(content, await ReadAllAsync(store, "big/object"));
        Assert.Empty(await store.ListPendingUploadsAsync(Ct));
    }

    [Fact]
    public async Task A_cancelled_multipart_write_leaves_no_object_and_no_pending_upload()
    {
        var store = CreateS3();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var gate = new GatedStream(TestData.Bytes(16 * 1024 * 1024, 3), bytesBeforeGate: 11 * 1024 * 1024);

        var write = store.WriteAsync("cancel/me", gate, cts.Token);
        await gate.WaitUntilReachedAsync(Ct);   // two parts are uploading or uploaded
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write.WaitAsync(TimeSpan.FromSeconds(30), Ct));
        Assert.Null(await store.StatAsync("cancel/me", Ct));
        Assert.Empty(await ListAsync(store, ""));
        Assert.Empty(await store.ListPendingUploadsAsync(Ct));   // aborted by the write itself
    }

    [Fact]
    public async Task Abandoned_uploads_are_aborted_by_the_cleanup_and_young_ones_are_kept()
    {
        var store = CreateS3();
        // Uploads started by a process that died: initiated and never completed or aborted.
        using var client = RawClient(store);
        await client.InitiateMultipartUploadAsync(new Amazon.S3.Model.InitiateMultipartUploadRequest
        {
            BucketName = store.Bucket,
            Key = store.Prefix + "dead/one",
        }, Ct);
        await client.InitiateMultipartUploadAsync(new Amazon.S3.Model.InitiateMultipartUploadRequest
        {
            BucketName = store.Bucket,
            Key = store.Prefix + "dead/two",
        }, Ct);
        Assert.Equal(["dead/one", "dead/two"], (await store.ListPendingUploadsAsync(Ct)).Order(StringComparer.Ordinal));

        Assert.Equal(0, await store.AbortAbandonedUploadsAsync(TimeSpan.FromHours(1), Ct));   // too young to be abandoned
        Assert.Equal(2, (await store.ListPendingUploadsAsync(Ct)).Count);

        Assert.Equal(2, await store.AbortAbandonedUploadsAsync(TimeSpan.Zero, Ct));
        Assert.Empty(await store.ListPendingUploadsAsync(Ct));
        Assert.Empty(await ListAsync(store, ""));
    }

    [Fact]
    public async Task A_corrupted_object_fails_its_whole_read_with_ObjectCorrupt()
    {
        var store = CreateS3();
        var content = TestData.Bytes(100_000, 8);
        await WriteAsync(store, "rot/object", content);

        // Bit rot on the server: flip one byte of the stored file behind the service's back.
        var file = Directory.EnumerateFiles(fixture.Server.DataDirectory, "object._S3rver_object", SearchOption.AllDirectories)
            .Single(f => f.Contains(store.Prefix.TrimEnd('/'), StringComparison.Ordinal));
        var bytes = await File.ReadAllBytesAsync(file, Ct);
        bytes[50_000] ^= 0x01;
        await File.WriteAllBytesAsync(file, bytes, Ct);

        var ex = await Assert.ThrowsAsync<Errors.PgVaultException>(() => ReadAllAsync(store, "rot/object"));
        Assert.Equal(Errors.ErrorCode.ObjectCorrupt, ex.Code);
        Assert.Contains("'rot/object'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_large_object_read_as_parallel_ranges_is_checked_against_its_multipart_ETag_unless_the_caller_checks_it()
    {
        var store = CreateS3(o => o with { ReadConcurrency = 3 });
        var otherParts = CreateS3(o => o with { Prefix = store.Prefix, PartSizeBytes = 6 * 1024 * 1024 });   // ranges unlike the parts
        var content = TestData.Bytes(23 * 1024 * 1024 + 11, 22);   // 5 parts of 5 MiB
        await WriteAsync(store, "rot/large", content);
        Assert.Equal(content, await ReadAllAsync(store, "rot/large"));
        Assert.Equal(content, await ReadAllAsync(otherParts, "rot/large"));

        // A reader that stops early gives its ranges up; the next whole read is unaffected.
        await using (var early = await store.OpenReadAsync("rot/large", ReadRange.All, Ct))
            Assert.Equal(content[0], (byte)early.ReadByte());
        Assert.Equal(content, await ReadAllAsync(store, "rot/large"));

        // Bit rot in the fourth part.
        var file = Directory.EnumerateFiles(fixture.Server.DataDirectory, "large._S3rver_object", SearchOption.AllDirectories)
            .Single(f => f.Contains(store.Prefix.TrimEnd('/'), StringComparison.Ordinal));
        var bytes = await File.ReadAllBytesAsync(file, Ct);
        bytes[(17 * 1024 * 1024) + 5] ^= 0x01;
        await File.WriteAllBytesAsync(file, bytes, Ct);

        foreach (var reader in new[] { store, otherParts })
        {
            var ex = await Assert.ThrowsAsync<Errors.PgVaultException>(() => ReadAllAsync(reader, "rot/large"));
            Assert.Equal(Errors.ErrorCode.ObjectCorrupt, ex.Code);
            Assert.Contains("'rot/large'", ex.Message, StringComparison.Ordinal);
            Assert.Contains("ETag", ex.Message, StringComparison.Ordinal);
        }

        // A reader with a checksum of its own (a restore's SHA-256) gets the stored bytes: the ETag's MD5 is left out.
        await using var uncheckedRead = await store.OpenReadVerifiedByCallerAsync("rot/large", ReadRange.All, Ct);
        using var read = new MemoryStream();
        await uncheckedRead.CopyToAsync(read, Ct);
        Assert.Equal(bytes, read.ToArray());
    }

    [Fact]
    public async Task Objects_written_by_other_tools_with_invalid_keys_are_not_listed()
    {
        var store = CreateS3();
        await WriteAsync(store, "ok/key", [1]);
        using var client = RawClient(store);
        await client.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest
        {
            BucketName = store.Bucket,
            Key = store.Prefix + "ok/.hidden",
            ContentBody = "x",
            UseChunkEncoding = false,
        }, Ct);

        Assert.Equal(["ok/key"], (await ListAsync(store, "")).Select(o => o.Key));
    }

    private Amazon.S3.AmazonS3Client RawClient(S3ObjectStore store) => new(
        new Amazon.Runtime.BasicAWSCredentials(S3Server.AccessKeyId, S3Server.SecretAccessKey),
        new Amazon.S3.AmazonS3Config
        {
            ServiceURL = fixture.Server.Endpoint.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            RequestChecksumCalculation = Amazon.Runtime.RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = Amazon.Runtime.ResponseChecksumValidation.WHEN_REQUIRED,
        });

    /// <summary>A stream over bytes that hides its length, as the engine's content streams do.</summary>
    private sealed class NonSeekable(byte[] content) : Stream
    {
        private readonly MemoryStream _inner = new(content, writable: false);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            _inner.ReadAsync(buffer, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>Memory of S3 writes, measured alone (allocation counts are process-wide).</summary>
[Collection(nameof(MeasuredAlone))]
[Trait("Category", "S3")]
public sealed class S3MemoryTests(S3ServerFixture fixture) : IClassFixture<S3ServerFixture>
{
    [Fact]
    public async Task A_large_write_holds_a_few_parts_not_the_object()
    {
        var ct = TestContext.Current.CancellationToken;
        using var store = new S3ObjectStore(fixture.Server.StoreOptions("mem") with { UploadConcurrency = 3 });
        await store.WriteAsync("warm", new GeneratedStream(40L * 1024 * 1024, 6), ct);   // fills the buffer pool, JITs
        var before = GC.GetTotalAllocatedBytes(precise: true);

        await store.WriteAsync("object", new GeneratedStream(80L * 1024 * 1024, 5), ct);

        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        // At most UploadConcurrency + 1 = 4 part buffers exist at once, rented from the shared pool (which hands out
        // 8 MiB arrays for 5 MiB); the pool may allocate some of them again, plus the SDK's per-request overhead. What is
        // never allocated is anything in proportion to the object.
        Assert.True(allocated < 4L * 8 * 1024 * 1024, $"writing 80 MiB allocated {allocated / 1024} KiB");
        Assert.Equal(80L * 1024 * 1024, (await store.StatAsync("object", ct))!.SizeBytes);
        TestContext.Current.SendDiagnosticMessage($"80 MiB to S3 in 5 MiB parts: allocated {allocated / 1024} KiB");
    }
}

using System.Buffers;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

using PgVault.Errors;

namespace PgVault.Storage.S3;

/// <summary>
/// An <see cref="IObjectStore"/> in an S3 bucket (AWS S3 or any S3-compatible service), under a key prefix.
/// </summary>
/// <remarks>
/// <para><b>Writes</b> stream: the content is cut into parts of <see cref="S3ObjectStoreOptions.PartSizeBytes"/>; content
/// that ends within the first part goes as one PUT, anything larger as a multipart upload with up to
/// <see cref="S3ObjectStoreOptions.UploadConcurrency"/> parts in flight, so memory stays bounded whatever the length.
/// Every PUT and part carries its <c>Content-MD5</c>, which the service checks. An object becomes visible only when the
/// PUT or <c>CompleteMultipartUpload</c> succeeds; a failed or cancelled write aborts its upload. An upload that could
/// not be aborted (the process died) is invisible and is removed by <see cref="AbortAbandonedUploadsAsync"/>.</para>
/// <para><b>Reads</b> of a whole object are checked against its ETag (see <see cref="S3ObjectStoreOptions.VerifyETag"/>);
/// a connection lost mid-body resumes from where it stopped (pinned to the same ETag).</para>
/// <para><b>Retries</b>: 5xx, 429/SlowDown, timeouts and connection failures are retried up to
/// <see cref="S3ObjectStoreOptions.MaxAttempts"/> times with exponential backoff and jitter, after waiting any
/// <c>Retry-After</c> the service sent; the SDK's own retries are off so that this is the one policy.</para>
/// </remarks>
public sealed class S3ObjectStore : IObjectStore, IDisposable
{
    /// <summary>Metadata key (<c>x-amz-meta-pgvault-part-size</c>) recording the part size of a multipart upload, which
    /// is what a reader needs to check the multipart ETag.</summary>
    internal const string PartSizeMetadata = "pgvault-part-size";

    private const int MaxParts = 10_000;
    private const int MinPartSizeBytes = 5 * 1024 * 1024;
    private const int DeleteBatch = 1000;

    private readonly S3ObjectStoreOptions _options;
    private readonly AmazonS3Client _client;
    private readonly string _prefix;
    private readonly ILogger _logger;
    private readonly S3Retry _retry;

    /// <summary>
    /// The part buffers' own pool, keeping at most UploadConcurrency + 2 of them between writes. Not the shared pool:
    /// that one caches large arrays per thread and per core (parts are rented on one thread and returned on another),
    /// which let S3 backups' peak RSS grow during long backups (bench/README.md, bench/backup S3 mode).
    /// </summary>
    private readonly ArrayPool<byte> _parts;

    public S3ObjectStore(S3ObjectStoreOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrEmpty(options.Bucket) || options.PartSizeBytes < MinPartSizeBytes || options.UploadConcurrency < 1
            || options.ReadConcurrency < 1 || options.MaxAttempts < 1)
        {
            throw new ArgumentException(
                $"an S3 store needs a bucket, PartSizeBytes >= {MinPartSizeBytes}, UploadConcurrency >= 1, ReadConcurrency >= 1 " +
                "and MaxAttempts >= 1",
                nameof(options));
        }

        _options = options;
        _prefix = options.NormalizedPrefix;
        ObjectKeys.ValidatePrefix(_prefix);
        _logger = logger ?? NullLogger.Instance;
        _retry = new S3Retry(options, _logger);
        _parts = ArrayPool<byte>.Create(options.PartSizeBytes, options.UploadConcurrency + options.ReadConcurrency + 2);
        _client = CreateClient(options);
    }

    /// <inheritdoc />
    public string Kind => "s3";

    /// <inheritdoc />
    /// <remarks>S3 is strongly consistent (read-after-write and list-after-write) since 2020; writes are not renames.</remarks>
    public ObjectStoreCapabilities Capabilities => ObjectStoreCapabilities.ConsistentList;

    /// <summary>The bucket.</summary>
    public string Bucket => _options.Bucket;

    /// <summary>The key prefix in the bucket ("" or ending in '/').</summary>
    public string Prefix => _prefix;

    /// <inheritdoc />
    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        ObjectKeys.ValidatePrefix(prefix);
        string? continuation = null;
        do
        {
            var request = new ListObjectsV2Request { BucketName = Bucket, Prefix = _prefix + prefix, ContinuationToken = continuation };
            var page = await _retry.RunAsync($"list '{prefix}' in {Describe()}",
                t => _client.ListObjectsV2Async(request, t), ct).ConfigureAwait(false);
            foreach (var o in page.S3Objects ?? [])
            {
                // S3 lists keys in UTF-8 byte order, which for the ASCII keys of PgVault is ordinal order.
                var key = o.Key[_prefix.Length..];
                if (!o.Key.StartsWith(_prefix, StringComparison.Ordinal) || !ObjectKeys.IsValid(key))
                    continue;   // not an object of this repository (written by something else)
                yield return new ObjectInfo(key, o.Size ?? 0, ToOffset(o.LastModified));
            }

            continuation = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (continuation is not null);
    }

    /// <inheritdoc />
    public async Task<ObjectInfo?> StatAsync(string key, CancellationToken ct)
    {
        ObjectKeys.Validate(key);
        var head = await HeadAsync(key, ct).ConfigureAwait(false);
        return head is null ? null : new ObjectInfo(key, head.ContentLength, ToOffset(head.LastModified));
    }

    /// <inheritdoc />
    /// <remarks>A whole-object read is checked against the ETag unless <see cref="S3ObjectStoreOptions.VerifyETag"/> is
    /// off; a large one is read as parallel ranged GETs (<see cref="S3ObjectStoreOptions.ReadConcurrency"/>).</remarks>
    public Task<Stream> OpenReadAsync(string key, ReadRange range, CancellationToken ct) =>
        OpenAsync(key, range, _options.VerifyETag, ct);

    /// <inheritdoc />
    /// <remarks>The same reads as <see cref="OpenReadAsync"/> without the ETag's MD5 of every byte.</remarks>
    public Task<Stream> OpenReadVerifiedByCallerAsync(string key, ReadRange range, CancellationToken ct) =>
        OpenAsync(key, range, verify: false, ct);

    private async Task<Stream> OpenAsync(string key, ReadRange range, bool verify, CancellationToken ct)
    {
        ObjectKeys.Validate(key);
        if (range.Offset < 0 || range.Length < 0)
            throw new ArgumentOutOfRangeException(nameof(range), range, "a read range has a non-negative offset and length");
        ct.ThrowIfCancellationRequested();
        if (range.Length == 0)
        {
            _ = await HeadAsync(key, ct).ConfigureAwait(false) ?? throw new ObjectNotFoundException(key);
            return Stream.Null;
        }

        var whole = range.Offset == 0 && range.Length is null;
        if (whole && _options.ReadConcurrency > 1)
        {
            // The first part's range first: a small object comes whole with it, a large one tells its size and is read
            // on as parallel ranges.
            var partSize = _options.PartSizeBytes;
            var first = await GetAsync(key, 0, partSize, etag: null, ct).ConfigureAwait(false);
            var length = first is null ? 0 : ObjectLength(first);
            if (first is null || length == 0)
            {
                first?.Dispose();
                return Stream.Null;   // an empty object (S3 answers a range of it with 416)
            }

            if (length <= partSize)
                return new S3ReadStream(this, key, first, 0, null, verify);
            return new S3ParallelReadStream(this, key, first, length, partSize, _options.ReadConcurrency, _parts, verify);
        }

        var response = await GetAsync(key, range.Offset, range.Length, etag: null, ct).ConfigureAwait(false);
        if (response is null)
            return Stream.Null;   // the range starts past the end
        return new S3ReadStream(this, key, response, range.Offset, range.Length, verify: whole && verify);
    }

    /// <summary>The whole object's size from a ranged GET's Content-Range (<c>bytes 0-N/SIZE</c>); the response's own
    /// length when the service sent the whole object (no Content-Range).</summary>
    private static long ObjectLength(GetObjectResponse response)
    {
        var range = response.ContentRange;
        var slash = range?.LastIndexOf('/') ?? -1;
        return slash >= 0 && long.TryParse(range.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var size)
            ? size
            : response.ContentLength;
    }

    /// <inheritdoc />
    public async Task<ObjectInfo> WriteAsync(string key, Stream content, CancellationToken ct)
    {
        ObjectKeys.Validate(key);
        ArgumentNullException.ThrowIfNull(content);
        ct.ThrowIfCancellationRequested();

        var partSize = _options.PartSizeBytes;
        var first = _parts.Rent(partSize);
        int firstLength;
        try
        {
            firstLength = await FillAsync(content, first, partSize, ct).ConfigureAwait(false);
            if (firstLength < partSize)
            {
                await PutAsync(key, first, firstLength, ct).ConfigureAwait(false);
                return new ObjectInfo(key, firstLength, DateTimeOffset.UtcNow);
            }
        }
        catch
        {
            _parts.Return(first);
            throw;
        }

        // The first part is full: a multipart upload (it takes ownership of the buffer).
        var total = await WriteMultipartAsync(key, content, first, ct).ConfigureAwait(false);
        return new ObjectInfo(key, total, DateTimeOffset.UtcNow);
    }

    private async Task<long> WriteMultipartAsync(string key, Stream content, byte[] first, CancellationToken ct)
    {
        var partSize = _options.PartSizeBytes;
        var initiate = new InitiateMultipartUploadRequest { BucketName = Bucket, Key = _prefix + key };
        initiate.Metadata.Add(PartSizeMetadata, partSize.ToString(CultureInfo.InvariantCulture));
        if (_options.StorageClass is { Length: > 0 } sc)
            initiate.StorageClass = new S3StorageClass(sc);
        string uploadId;
        try
        {
            uploadId = (await _retry.RunAsync($"start the upload of '{key}' to {Describe()}",
                t => _client.InitiateMultipartUploadAsync(initiate, t), ct).ConfigureAwait(false)).UploadId;
        }
        catch
        {
            _parts.Return(first);
            throw;
        }

        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var slots = new SemaphoreSlim(_options.UploadConcurrency);
        var parts = new List<Task<PartETag>>();
        var md5s = new List<byte[]>();
        long total = 0;
        try
        {
            var buffer = first;
            var length = partSize;
            while (true)
            {
                if (parts.Count == MaxParts)
                {
                    _parts.Return(buffer);
                    throw new PgVaultException(ErrorCode.RepositoryUnavailable,
                        $"unable to write '{key}' to {Describe()}: larger than {MaxParts} parts of {partSize} bytes",
                        "raise the location's PartSizeBytes");
                }

                // At most UploadConcurrency parts in flight, plus the one being filled: bounded memory.
                try
                {
                    await slots.WaitAsync(failed.Token).ConfigureAwait(false);
                }
                catch
                {
                    _parts.Return(buffer);
                    throw;
                }

                var md5 = MD5.HashData(buffer.AsSpan(0, length));
                md5s.Add(md5);
                parts.Add(UploadPartAsync(key, uploadId, parts.Count + 1, buffer, length, md5, slots, failed));
                total += length;
                if (length < partSize)
                    break;

                buffer = _parts.Rent(partSize);
                try
                {
                    length = await FillAsync(content, buffer, partSize, failed.Token).ConfigureAwait(false);
                }
                catch
                {
                    _parts.Return(buffer);
                    throw;
                }

                if (length == 0)
                {
                    _parts.Return(buffer);
                    break;
                }
            }

            var etags = await Task.WhenAll(parts).ConfigureAwait(false);
            await CompleteAsync(key, uploadId, etags, md5s, ct).ConfigureAwait(false);
            return total;
        }
        catch (Exception ex)
        {
            // Nothing of this write may become visible: stop the other parts, then abort the upload (its parts go).
            await failed.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(parts).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The parts fail with the cancellation (or their own error); the first failure is what the caller sees.
            }

            await AbortAfterFailureAsync(key, uploadId).ConfigureAwait(false);

            // A part that failed cancelled the others and this loop: its error, not that cancellation, is the cause.
            var partError = parts.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException)
                .FirstOrDefault(e => e is not null and not OperationCanceledException);
            if (ex is OperationCanceledException && !ct.IsCancellationRequested && partError is not null)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(partError);
            throw;
        }
    }

    private async Task<PartETag> UploadPartAsync(
        string key, string uploadId, int partNumber, byte[] buffer, int length, byte[] md5, SemaphoreSlim slots,
        CancellationTokenSource failed)
    {
        await Task.Yield();   // let the caller fill the next part meanwhile
        try
        {
            var md5Base64 = Convert.ToBase64String(md5);
            var response = await _retry.RunAsync($"upload part {partNumber} of '{key}' to {Describe()}", async t =>
            {
                using var body = new MemoryStream(buffer, 0, length, writable: false);
                return await _client.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = Bucket,
                    Key = _prefix + key,
                    UploadId = uploadId,
                    PartNumber = partNumber,
                    PartSize = length,
                    InputStream = body,
                    MD5Digest = md5Base64,
                    UseChunkEncoding = false,
                    DisablePayloadSigning = IsHttps ? true : null,
                }, t).ConfigureAwait(false);
            }, failed.Token).ConfigureAwait(false);
            var expected = Convert.ToHexStringLower(md5);
            if (response.ETag is { } etag && !string.Equals(etag.Trim('"'), expected, StringComparison.OrdinalIgnoreCase) && _options.VerifyETag)
            {
                throw new PgVaultException(ErrorCode.ObjectCorrupt,
                    $"part {partNumber} of '{key}' was stored in {Describe()} with ETag {etag}, not the MD5 {expected} sent");
            }

            return new PartETag { PartNumber = partNumber, ETag = response.ETag };
        }
        catch
        {
            await failed.CancelAsync().ConfigureAwait(false);   // fail fast: the write is lost anyway
            throw;
        }
        finally
        {
            _parts.Return(buffer);
            slots.Release();
        }
    }

    private async Task CompleteAsync(string key, string uploadId, PartETag[] etags, List<byte[]> md5s, CancellationToken ct)
    {
        var expected = MultipartETag(md5s);
        await _retry.RunAsync($"complete the upload of '{key}' to {Describe()}", async t =>
        {
            try
            {
                return await _client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
                {
                    BucketName = Bucket,
                    Key = _prefix + key,
                    UploadId = uploadId,
                    PartETags = [.. etags],
                }, t).ConfigureAwait(false);
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
            {
                // An earlier attempt completed the upload (or is completing it) but its answer was lost — also below this
                // policy: the HTTP stack re-sends a request whose connection broke. The object is there, now or in a
                // moment, if its ETag is ours (the MD5 of exactly our parts).
                for (var check = 1; check <= _options.MaxAttempts; check++)
                {
                    var head = await HeadAsync(key, t).ConfigureAwait(false);
                    if (string.Equals(head?.ETag?.Trim('"'), expected, StringComparison.OrdinalIgnoreCase))
                        return null;
                    await Task.Delay(_retry.Backoff(check), t).ConfigureAwait(false);
                }

                throw new PgVaultException(ErrorCode.RepositoryUnavailable,
                    $"unable to complete the upload of '{key}' to {Describe()}: the upload is gone and the object is not ours", null, ex);
            }
        }, ct).ConfigureAwait(false);
    }

    private async Task AbortAfterFailureAsync(string key, string uploadId)
    {
        // Bounded, and not by the caller's token (which may be what was cancelled).
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await AbortUploadAsync(_prefix + key, uploadId, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is PgVaultException or OperationCanceledException or AmazonServiceException)
        {
            // The failed write's error is what the caller must see; the invisible upload is removed later by
            // AbortAbandonedUploadsAsync.
            _logger.LogWarning("unable to abort the multipart upload of '{Key}' in {Store} ({Error}); it is invisible and " +
                               "removed by the abandoned-upload cleanup", key, Describe(), ex.Message);
        }
    }

    /// <summary>S3's ETag of a multipart object: the MD5 of the parts' binary MD5s, '-', the number of parts.</summary>
    internal static string MultipartETag(IReadOnlyList<byte[]> partMd5s)
    {
        var all = new byte[partMd5s.Count * 16];
        for (var i = 0; i < partMd5s.Count; i++)
            partMd5s[i].CopyTo(all, i * 16);
        return Convert.ToHexStringLower(MD5.HashData(all)) + "-" + partMd5s.Count.ToString(CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public async Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(keys);
        foreach (var key in keys)
            ObjectKeys.Validate(key);
        foreach (var batch in keys.Distinct(StringComparer.Ordinal).Chunk(DeleteBatch))
        {
            var request = new DeleteObjectsRequest
            {
                BucketName = Bucket,
                Quiet = true,
                Objects = [.. batch.Select(k => new KeyVersion { Key = _prefix + k })],
            };
            var response = await _retry.RunAsync($"delete {batch.Length} objects in {Describe()}",
                t => _client.DeleteObjectsAsync(request, t), ct).ConfigureAwait(false);
            if (response.DeleteErrors is { Count: > 0 } errors)
            {
                var e = errors[0];
                throw new PgVaultException(ErrorCode.RepositoryUnavailable,
                    $"unable to delete {errors.Count} objects in {Describe()}; first: '{e.Key}': {e.Code} {e.Message}");
            }
        }
    }

    /// <summary>
    /// Aborts the multipart uploads under this store's prefix that were started more than <paramref name="olderThan"/>
    /// ago: uploads of writes that died with their process (they are invisible, but the service keeps and bills their
    /// parts). Returns how many it aborted. An upload younger than that may belong to a write in progress, here or in
    /// another pgvault, and is left alone.
    /// </summary>
    public async Task<int> AbortAbandonedUploadsAsync(TimeSpan olderThan, CancellationToken ct)
    {
        var cutoff = DateTime.UtcNow - olderThan;
        var aborted = 0;
        string? keyMarker = null, uploadMarker = null;
        while (true)
        {
            var request = new ListMultipartUploadsRequest
            {
                BucketName = Bucket,
                Prefix = _prefix,
                KeyMarker = keyMarker,
                UploadIdMarker = uploadMarker,
            };
            var page = await _retry.RunAsync($"list the pending uploads of {Describe()}",
                t => _client.ListMultipartUploadsAsync(request, t), ct).ConfigureAwait(false);
            foreach (var upload in page.MultipartUploads ?? [])
            {
                if (upload.Initiated is { } initiated && initiated.ToUniversalTime() > cutoff)
                    continue;
                await AbortUploadAsync(upload.Key, upload.UploadId, ct).ConfigureAwait(false);
                _logger.LogInformation("aborted the abandoned multipart upload of '{Key}' started {Initiated:O} in {Store}",
                    upload.Key, upload.Initiated, Describe());
                aborted++;
            }

            if (page.IsTruncated != true)
                return aborted;
            keyMarker = page.NextKeyMarker;
            uploadMarker = page.NextUploadIdMarker;
        }
    }

    /// <summary>The multipart uploads pending under this store's prefix (keys relative to the prefix), for tests and tools.</summary>
    public async Task<IReadOnlyList<string>> ListPendingUploadsAsync(CancellationToken ct)
    {
        var request = new ListMultipartUploadsRequest { BucketName = Bucket, Prefix = _prefix };
        var page = await _retry.RunAsync($"list the pending uploads of {Describe()}",
            t => _client.ListMultipartUploadsAsync(request, t), ct).ConfigureAwait(false);
        return [.. (page.MultipartUploads ?? []).Select(u => u.Key[_prefix.Length..])];
    }

    public void Dispose() => _client.Dispose();

    public override string ToString() => Describe();

    internal string Describe() => $"s3://{Bucket}/{_prefix}";

    /// <summary>GET of a range of the object, or null when the range starts past its end. Throws
    /// <see cref="ObjectNotFoundException"/>.</summary>
    internal async Task<GetObjectResponse?> GetAsync(string key, long offset, long? length, string? etag, CancellationToken ct)
    {
        var request = new GetObjectRequest { BucketName = Bucket, Key = _prefix + key, EtagToMatch = etag };
        if (offset > 0 || length is not null)
        {
            request.ByteRange = length is { } l
                ? new ByteRange(offset, offset + l - 1)
                : new ByteRange(string.Create(CultureInfo.InvariantCulture, $"bytes={offset}-"));
        }

        return await _retry.RunAsync($"read '{key}' in {Describe()}", async t =>
        {
            try
            {
                return await _client.GetObjectAsync(request, t).ConfigureAwait(false);
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
            {
#pragma warning disable MA0054 // the typed not-found carries the key; the SDK's 404 adds nothing to it
                throw new ObjectNotFoundException(key);
#pragma warning restore MA0054
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                return null;
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.PreconditionFailed)
            {
                throw new PgVaultException(ErrorCode.ObjectCorrupt,
                    $"object '{key}' in {Describe()} was replaced while it was read (its ETag is no longer {etag})");
            }
        }, ct).ConfigureAwait(false);
    }

    internal S3Retry Retry => _retry;

    private async Task<GetObjectMetadataResponse?> HeadAsync(string key, CancellationToken ct) =>
        await _retry.RunAsync($"stat '{key}' in {Describe()}", async t =>
        {
            try
            {
                return await _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = Bucket, Key = _prefix + key }, t)
                    .ConfigureAwait(false);
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }
        }, ct).ConfigureAwait(false);

    private async Task PutAsync(string key, byte[] buffer, int length, CancellationToken ct)
    {
        var md5 = Convert.ToBase64String(MD5.HashData(buffer.AsSpan(0, length)));
        await _retry.RunAsync($"write '{key}' to {Describe()}", async t =>
        {
            using var body = new MemoryStream(buffer, 0, length, writable: false);
            var request = new PutObjectRequest
            {
                BucketName = Bucket,
                Key = _prefix + key,
                InputStream = body,
                MD5Digest = md5,
                AutoCloseStream = false,
                UseChunkEncoding = false,
                DisablePayloadSigning = IsHttps ? true : null,
            };
            if (_options.StorageClass is { Length: > 0 } sc)
                request.StorageClass = new S3StorageClass(sc);
            return await _client.PutObjectAsync(request, t).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    private bool IsHttps => _options.Endpoint is null || string.Equals(_options.Endpoint.Scheme, "https", StringComparison.OrdinalIgnoreCase);

    private async Task AbortUploadAsync(string fullKey, string uploadId, CancellationToken ct)
    {
        await _retry.RunAsync($"abort the upload of '{fullKey}' in s3://{Bucket}", async t =>
        {
            try
            {
                return await _client.AbortMultipartUploadAsync(
                    new AbortMultipartUploadRequest { BucketName = Bucket, Key = fullKey, UploadId = uploadId }, t).ConfigureAwait(false);
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
            {
                return null;   // already gone (completed, aborted by another cleaner)
            }
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Reads until <paramref name="buffer"/> holds <paramref name="count"/> bytes or the content ended.</summary>
    private static async Task<int> FillAsync(Stream content, byte[] buffer, int count, CancellationToken ct)
    {
        var filled = 0;
        while (filled < count)
        {
            var n = await content.ReadAsync(buffer.AsMemory(filled, count - filled), ct).ConfigureAwait(false);
            if (n == 0)
                break;
            filled += n;
        }

        return filled;
    }

    private static DateTimeOffset ToOffset(DateTime? time) =>
        time is { } t ? new DateTimeOffset(t.ToUniversalTime(), TimeSpan.Zero) : DateTimeOffset.UnixEpoch;

    private static AmazonS3Client CreateClient(S3ObjectStoreOptions o)
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = o.ForcePathStyle,
            MaxErrorRetry = 0,   // S3Retry is the one retry policy
            MaxStaleConnectionRetries = 0,
            Timeout = o.RequestTimeout,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            HttpClientFactory = new S3HttpClientFactory(o.RetryMaxDelay),
        };
        if (o.Endpoint is not null)
        {
            config.ServiceURL = o.Endpoint.ToString();
            config.AuthenticationRegion = o.Region ?? "us-east-1";
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(o.Region ?? "us-east-1");
        }

        if (string.IsNullOrEmpty(o.AccessKeyId))
            return new AmazonS3Client(config);   // the AWS default chain: environment, shared files, instance role
        AWSCredentials credentials = string.IsNullOrEmpty(o.SessionToken)
            ? new BasicAWSCredentials(o.AccessKeyId, o.SecretAccessKey)
            : new SessionAWSCredentials(o.AccessKeyId, o.SecretAccessKey, o.SessionToken);
        return new AmazonS3Client(credentials, config);
    }
}

namespace PgVault.Storage.S3;

/// <summary>How an <see cref="S3ObjectStore"/> reaches its bucket and how it uploads. Every property documents its default.</summary>
public sealed record S3ObjectStoreOptions
{
    /// <summary>The bucket. Required.</summary>
    public required string Bucket { get; init; }

    /// <summary>Key prefix of the repository inside the bucket (<c>pgvault/prod</c>); a trailing '/' is added when
    /// missing. Default: none (the repository is the whole bucket).</summary>
    public string? Prefix { get; init; }

    /// <summary>Endpoint URL of an S3-compatible service (<c>https://s3.eu-central-1.ionoscloud.com</c>, a MinIO URL).
    /// Default: AWS S3 of <see cref="Region"/>.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>Region (signing region for a custom endpoint). Default <c>us-east-1</c>.</summary>
    public string? Region { get; init; }

    /// <summary>Path-style addressing (<c>https://host/bucket/key</c>) instead of virtual-host style. Most
    /// self-hosted services need it. Default false.</summary>
    public bool ForcePathStyle { get; init; }

    /// <summary>Access key id. Default: none, and then the AWS default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
    /// the shared credentials file, instance roles).</summary>
    public string? AccessKeyId { get; init; }

    /// <summary>Secret access key, with <see cref="AccessKeyId"/>. Never logged.</summary>
    public string? SecretAccessKey { get; init; }

    /// <summary>Session token of temporary credentials, with <see cref="AccessKeyId"/>. Default none.</summary>
    public string? SessionToken { get; init; }

    /// <summary>Storage class of written objects (<c>STANDARD_IA</c>, ...). Default: the bucket's default.</summary>
    public string? StorageClass { get; init; }

    /// <summary>Bytes per multipart part, and the largest object sent as a single PUT. At most
    /// (<see cref="UploadConcurrency"/> + 1) × this much memory is held per write. S3 allows 10,000 parts, so the
    /// largest object is 10,000 × this. Default 8 MiB (minimum 5 MiB, S3's smallest part).</summary>
    public int PartSizeBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>Parts of one write uploaded at the same time. Default 4.</summary>
    public int UploadConcurrency { get; init; } = 4;

    /// <summary>Ranged GETs of one object in flight at the same time when a large object (more than
    /// <see cref="PartSizeBytes"/>) is read whole: its parts are fetched this many ahead of the reader, each on its own
    /// connection. At most (this + 1) × <see cref="PartSizeBytes"/> of memory per read. 1 reads with one GET. Default 4.</summary>
    public int ReadConcurrency { get; init; } = 4;

    /// <summary>Attempts per request (the first one included) on 5xx, 429, timeouts and connection resets, with
    /// exponential backoff and jitter. Default 8.</summary>
    public int MaxAttempts { get; init; } = 8;

    /// <summary>Backoff before the second attempt; it doubles per attempt, half of it random. Default 200 ms.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest backoff, and the longest <c>Retry-After</c> honoured. Default 20 s.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Time allowed for one request (one part's upload, one response's headers, one read of a body). Default 2 min.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Check a whole-object read against the object's ETag when the ETag is an MD5 (single PUT) or S3's
    /// multipart form (md5 of the parts' md5s) of an object this store wrote. Turn off for services whose ETags are not
    /// MD5s (SSE-KMS, SSE-C). Default true.</summary>
    public bool VerifyETag { get; init; } = true;

    /// <summary>Where the store is, without credentials (a record's generated ToString would print the secret).</summary>
    public override string ToString() =>
        $"S3ObjectStoreOptions {{ Bucket = {Bucket}, Prefix = {Prefix}, Endpoint = {Endpoint}, Region = {Region}, " +
        $"AccessKeyId = {(string.IsNullOrEmpty(AccessKeyId) ? "(default chain)" : "***")} }}";

    internal string NormalizedPrefix =>
        string.IsNullOrEmpty(Prefix) ? "" : Prefix.Trim('/') is { Length: > 0 } p ? p + "/" : "";
}

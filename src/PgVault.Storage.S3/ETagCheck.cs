using System.Globalization;
using System.Security.Cryptography;
using PgVault.Errors;

namespace PgVault.Storage.S3;

/// <summary>
/// The check of a whole object's bytes against its ETag, for the ETags PgVault can recompute: a plain MD5 (an object
/// sent as one PUT), or S3's multipart form, md5(the parts' md5s)-N, when the object records the part size it was
/// uploaded with (<see cref="S3ObjectStore.PartSizeMetadata"/>). The bytes are given in order, or, when a reader has
/// cut the object at its part boundaries, part by part as their MD5s (<see cref="AddPartMd5"/>).
/// </summary>
internal sealed class ETagCheck : IDisposable
{
    private readonly string _expected;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
    private readonly List<byte[]> _partMd5s = [];
    private long _partFilled;
    private bool _verified;

    private ETagCheck(string expected, long partSizeBytes)
    {
        _expected = expected;
        PartSizeBytes = partSizeBytes;
    }

    /// <summary>The part size of a multipart ETag; 0 for a plain MD5.</summary>
    public long PartSizeBytes { get; }

    /// <summary>The check for an object with this ETag and part-size metadata, or null when the ETag cannot be
    /// recomputed (absent, not an MD5 form, a multipart object of another tool).</summary>
    public static ETagCheck? For(string? etag, string? partSizeMetadata)
    {
        if (etag is null)
            return null;
        var trimmed = etag.Trim('"');
        var dash = trimmed.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0 && trimmed.Length == 32)
            return new ETagCheck(trimmed, 0);
        if (dash == 32 && long.TryParse(partSizeMetadata, NumberStyles.None, CultureInfo.InvariantCulture, out var partSize) && partSize > 0)
            return new ETagCheck(trimmed, partSize);
        return null;
    }

    /// <summary>The next bytes of the object, in order.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        if (PartSizeBytes == 0)
        {
            _hash.AppendData(data);
            return;
        }

        while (!data.IsEmpty)
        {
            var n = (int)Math.Min(data.Length, PartSizeBytes - _partFilled);
            _hash.AppendData(data[..n]);
            _partFilled += n;
            data = data[n..];
            if (_partFilled == PartSizeBytes)
            {
                _partMd5s.Add(_hash.GetHashAndReset());
                _partFilled = 0;
            }
        }
    }

    /// <summary>The MD5 of the next whole part (multipart ETags only, nothing of the part given to <see cref="Append"/>).</summary>
    public void AddPartMd5(byte[] md5)
    {
        if (PartSizeBytes == 0 || _partFilled != 0)
            throw new InvalidOperationException("a part's MD5 is added only to a multipart check, at a part boundary");
        _partMd5s.Add(md5);
    }

    /// <summary>Throws <see cref="ErrorCode.ObjectCorrupt"/> unless the bytes given make the ETag. Checks once: a reader
    /// at its end may be asked again.</summary>
    public void Verify(string key, string store)
    {
        if (_verified)
            return;
        _verified = true;
        string actual;
        if (PartSizeBytes == 0)
        {
            actual = Convert.ToHexStringLower(_hash.GetHashAndReset());
        }
        else
        {
            if (_partFilled > 0)
                _partMd5s.Add(_hash.GetHashAndReset());
            _partFilled = 0;
            actual = S3ObjectStore.MultipartETag(_partMd5s);
        }

        if (!string.Equals(actual, _expected, StringComparison.OrdinalIgnoreCase))
        {
            throw new PgVaultException(ErrorCode.ObjectCorrupt,
                $"object '{key}' in {store} read back with checksum {actual}, but its ETag is {_expected}",
                "the object or the transfer is corrupt; if the service's ETags are not MD5s (SSE-KMS, SSE-C), set VerifyETag to false");
        }
    }

    public void Dispose() => _hash.Dispose();
}

using Amazon.S3.Model;
using PgVault.Errors;

namespace PgVault.Storage.S3;

/// <summary>
/// The body of a GET. A connection that fails or ends early mid-body is resumed with a new ranged GET from the current
/// position, pinned to the first response's ETag (the object cannot change under the reader). A whole-object read is
/// checked at its end against the ETag: a plain MD5, or S3's multipart form when the object records its part size.
/// </summary>
internal sealed class S3ReadStream : AsyncReadOnlyStream
{
    private readonly S3ObjectStore _store;
    private readonly string _key;
    private readonly string? _etag;
    private readonly long _end;
    private readonly ETagCheck? _check;
    private GetObjectResponse _response;
    private Stream _body;
    private long _position;
    private int _resumes;

    public S3ReadStream(S3ObjectStore store, string key, GetObjectResponse response, long offset, long? length, bool verify)
    {
        _store = store;
        _key = key;
        _response = response;
        _body = response.ResponseStream;
        _etag = response.ETag;
        _position = offset;
        _end = offset + (response.ContentLength >= 0 ? response.ContentLength : length ?? 0);
        if (verify)
            _check = ETagCheck.For(_etag, response.Metadata[S3ObjectStore.PartSizeMetadata]);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
            return 0;
        while (true)
        {
            if (_position >= _end)
            {
                Verify();
                return 0;
            }

            Exception? failure;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(_store.Retry.RequestTimeout);
                try
                {
                    var want = (int)Math.Min(buffer.Length, _end - _position);
                    var n = await _body.ReadAsync(buffer[..want], timeout.Token).ConfigureAwait(false);
                    if (n > 0)
                    {
                        _check?.Append(buffer.Span[..n]);
                        _position += n;
                        return n;
                    }

                    failure = new IOException($"the response ended {_end - _position} bytes early");
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Retry.IsTransient(ex, timeout.IsCancellationRequested))
                {
                    failure = ex;
                }
            }

            await ResumeAsync(failure, cancellationToken).ConfigureAwait(false);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            DisposeBody();
            _check?.Dispose();
        }

        base.Dispose(disposing);
    }

    private async Task ResumeAsync(Exception failure, CancellationToken ct)
    {
        if (++_resumes >= _store.Retry.MaxAttempts)
        {
            throw new PgVaultException(ErrorCode.RepositoryUnavailable,
                $"unable to read '{_key}' in {_store.Describe()}: {failure.Message} (gave up after {_resumes} resumes)", null, failure);
        }

        await Task.Delay(_store.Retry.Backoff(_resumes), ct).ConfigureAwait(false);
        DisposeBody();
        var response = await _store.GetAsync(_key, _position, _end - _position, _etag, ct).ConfigureAwait(false)
            ?? throw new PgVaultException(ErrorCode.ObjectCorrupt, $"object '{_key}' in {_store.Describe()} became shorter while it was read");
        _response = response;
        _body = response.ResponseStream;
    }

    /// <summary>
    /// Closes the current response. The SDK checks the MD5 of a whole-object body itself when it is closed, and throws
    /// if it was not read to the end (a reader that stops early, a connection being resumed): that is not an error of
    /// the object. The check that counts is <see cref="Verify"/>, at the end of the content.
    /// </summary>
    private void DisposeBody()
    {
        try
        {
            _body.Dispose();
        }
        catch (Amazon.Runtime.AmazonClientException)
        {
        }
        catch (IOException)
        {
        }

        _response.Dispose();
    }

    private void Verify() => _check?.Verify(_key, _store.Describe());
}

using System.Buffers;
using System.Text.Json;
using PgVault.Api.Contracts;

namespace PgVault.Api.ReadModel;

/// <summary>
/// A 200 response of JSON that is already UTF-8: a head, items joined by commas, a tail, written straight to the response
/// body with its Content-Length. The content type is the one <c>TypedResults.Json</c> sends.
/// </summary>
public sealed class Utf8JsonResult : IResult, IStatusCodeHttpResult, IContentTypeHttpResult
{
    private const string JsonContentType = "application/json; charset=utf-8";
    private static readonly byte[] ItemsOpen = ",\"items\":["u8.ToArray();

    private readonly byte[] _head;
    private readonly byte[][] _items;
    private readonly byte[] _tail;

    private Utf8JsonResult(byte[] head, byte[][] items, byte[] tail)
    {
        _head = head;
        _items = items;
        _tail = tail;
    }

    /// <summary>One pre-serialized JSON document (a backup).</summary>
    public static Utf8JsonResult Document(byte[] json) => new(json, [], []);

    /// <summary>
    /// A <c>ClusterBackupList</c> of pre-serialized items: the envelope (type, id, offset, limit, links) is serialized as
    /// the API always does, with no items, and the items' bytes are written between its <c>"items":[</c> and <c>]</c>,
    /// which makes the body byte for byte the one the serializer writes for the same list.
    /// </summary>
    public static Utf8JsonResult List(string id, BackupItemPage page, HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(page);
        var links = ContractMapper.Links(request, page.Offset, page.Limit, page.HasMore);
        var envelope = JsonSerializer.SerializeToUtf8Bytes(
            new ClusterBackupList("collection", id, [], page.Offset, page.Limit, links), ApiJsonContext.Api.ClusterBackupList);
        // Inside a JSON string every quote is escaped, so the only unescaped `,"items":[` is the property itself.
        var at = envelope.AsSpan().IndexOf(ItemsOpen);
        if (at < 0)
            throw new InvalidOperationException("the serialized ClusterBackupList has no items array");
        var split = at + ItemsOpen.Length;
        return new Utf8JsonResult(envelope[..split], page.Items, envelope[split..]);
    }

    /// <summary>Always 200.</summary>
    public int? StatusCode => StatusCodes.Status200OK;

    /// <summary><c>application/json; charset=utf-8</c>.</summary>
    public string ContentType => JsonContentType;

    /// <summary>The body's length in bytes.</summary>
    public long Length
    {
        get
        {
            long length = _head.Length + _tail.Length + Math.Max(0, _items.Length - 1);
            foreach (var item in _items)
                length += item.Length;
            return length;
        }
    }

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = JsonContentType;
        response.ContentLength = Length;
        var writer = response.BodyWriter;
        writer.Write(_head);
        for (var i = 0; i < _items.Length; i++)
        {
            if (i > 0)
                writer.Write(","u8);
            writer.Write(_items[i]);
        }

        writer.Write(_tail);
        await writer.FlushAsync(httpContext.RequestAborted).ConfigureAwait(false);
    }
}

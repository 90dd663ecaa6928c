namespace PgVault.Errors;

/// <summary>
/// The single catalog of PgVault error codes, as pgBackRest keeps one <c>error.yaml</c>.
/// Each code is a stable string sent to API clients as <c>errorCode</c> and printed by the CLI.
/// Never renumber or reuse a code; add new ones at the end of their group.
/// </summary>
public sealed record ErrorCode
{
    private ErrorCode(string code, int httpStatus, string title)
    {
        Code = code;
        HttpStatus = httpStatus;
        Title = title;
    }

    /// <summary>Stable identifier such as <c>PGV-0101</c>.</summary>
    public string Code { get; }

    /// <summary>HTTP status the API answers with for this error.</summary>
    public int HttpStatus { get; }

    /// <summary>Short description of the class of error.</summary>
    public string Title { get; }

    // 01xx: the request itself
    public static readonly ErrorCode InvalidParameter = new("PGV-0101", 400, "invalid parameter");
    public static readonly ErrorCode MalformedRequest = new("PGV-0102", 400, "malformed request");
    public static readonly ErrorCode Unauthorized = new("PGV-0103", 401, "authentication required");
    public static readonly ErrorCode Forbidden = new("PGV-0104", 403, "insufficient permissions");
    public static readonly ErrorCode NotFound = new("PGV-0105", 404, "resource not found");
    public static readonly ErrorCode RouteNotFound = new("PGV-0106", 404, "no such endpoint");
    public static readonly ErrorCode MethodNotAllowed = new("PGV-0107", 405, "method not allowed");
    public static readonly ErrorCode UnsupportedMediaType = new("PGV-0108", 415, "unsupported media type");
    public static readonly ErrorCode ValidationFailed = new("PGV-0109", 422, "validation failed");
    public static readonly ErrorCode RateLimited = new("PGV-0110", 429, "request rate limit exceeded");
    public static readonly ErrorCode Conflict = new("PGV-0111", 409, "conflict");
    public static readonly ErrorCode NotAcceptable = new("PGV-0112", 406, "not acceptable");
    public static readonly ErrorCode RequestTooLarge = new("PGV-0113", 413, "request too large");
    public static readonly ErrorCode UriTooLong = new("PGV-0114", 414, "request URI too long");
    public static readonly ErrorCode HeadersTooLarge = new("PGV-0115", 431, "request headers too large");

    // 05xx: the server
    public static readonly ErrorCode Internal = new("PGV-0500", 500, "internal server error");
    public static readonly ErrorCode Unavailable = new("PGV-0503", 503, "service unavailable");

    // 1xxx: configuration and catalog
    public static readonly ErrorCode InvalidConfiguration = new("PGV-1001", 500, "invalid configuration");
    public static readonly ErrorCode CatalogUnavailable = new("PGV-1002", 503, "catalog unavailable");
    public static readonly ErrorCode CatalogSchemaTooNew = new("PGV-1003", 500, "catalog schema is newer than this pgvault");
    public static readonly ErrorCode CatalogInUse = new("PGV-1004", 409, "another instance backs up the clusters of this catalog");

    // 2xxx: repository
    public static readonly ErrorCode ObjectNotFound = new("PGV-2001", 500, "repository object not found");
    public static readonly ErrorCode ObjectCorrupt = new("PGV-2002", 500, "repository object is corrupt");
    public static readonly ErrorCode InvalidObjectKey = new("PGV-2003", 500, "invalid repository key");
    public static readonly ErrorCode WalDuplicateMismatch = new("PGV-2004", 500, "WAL segment already archived with other content");
    public static readonly ErrorCode RepositoryUnavailable = new("PGV-2005", 503, "repository unavailable");
    public static readonly ErrorCode EncryptionKeyMissing = new("PGV-2006", 500, "object encrypted with a key that is not configured");
    public static readonly ErrorCode EncryptionKeyMismatch = new("PGV-2007", 500, "object encrypted with another key of the same id");
    public static readonly ErrorCode RepositoryFormatTooNew = new("PGV-2008", 500, "repository written by a newer PgVault");

    // 3xxx: PostgreSQL and the backup engine
    public static readonly ErrorCode PostgresUnavailable = new("PGV-3001", 503, "PostgreSQL cluster unreachable");
    public static readonly ErrorCode BaseBackupFailed = new("PGV-3002", 500, "base backup failed");
    public static readonly ErrorCode WalStreamFailed = new("PGV-3003", 500, "WAL streaming failed");
    public static readonly ErrorCode UnknownCluster = new("PGV-3004", 404, "cluster not configured");
    public static readonly ErrorCode PostgresMajorUnsupported = new("PGV-3005", 422, "PostgreSQL major version not supported");
    public static readonly ErrorCode LeaseLost = new("PGV-3006", 409, "the cluster is backed up by another instance of the fleet");

    /// <summary>All codes, for documentation and for the test that no code is used twice.</summary>
    public static IReadOnlyList<ErrorCode> All { get; } =
    [
        InvalidParameter, MalformedRequest, Unauthorized, Forbidden, NotFound, RouteNotFound, MethodNotAllowed,
        UnsupportedMediaType, ValidationFailed, RateLimited, Conflict, NotAcceptable, RequestTooLarge, UriTooLong, HeadersTooLarge,
        Internal, Unavailable, InvalidConfiguration, CatalogUnavailable, CatalogSchemaTooNew, CatalogInUse,
        ObjectNotFound, ObjectCorrupt, InvalidObjectKey, WalDuplicateMismatch, RepositoryUnavailable, EncryptionKeyMissing,
        EncryptionKeyMismatch, RepositoryFormatTooNew,
        PostgresUnavailable, BaseBackupFailed, WalStreamFailed, UnknownCluster, PostgresMajorUnsupported, LeaseLost,
    ];

    /// <summary>The error code for an HTTP status produced by the framework itself (routing, content negotiation).</summary>
    public static ErrorCode ForHttpStatus(int status) => status switch
    {
        400 => MalformedRequest,
        401 => Unauthorized,
        403 => Forbidden,
        404 => RouteNotFound,
        405 => MethodNotAllowed,
        406 => NotAcceptable,
        409 => Conflict,
        413 => RequestTooLarge,
        414 => UriTooLong,
        415 => UnsupportedMediaType,
        422 => ValidationFailed,
        429 => RateLimited,
        431 => HeadersTooLarge,
        503 => Unavailable,
        _ => Internal,
    };

    public override string ToString() => Code;
}

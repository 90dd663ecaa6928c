using System.Globalization;
using Microsoft.AspNetCore.Http;
using PgVault.Catalog;

namespace PgVault.Api.Contracts;

/// <summary>Maps catalog records to the IONOS contract types, and builds pagination links.</summary>
public static class ContractMapper
{
    private const long BytesPerMegabyte = 1024 * 1024;

    public static BackupResponse ToResponse(BackupRecord b)
    {
        ArgumentNullException.ThrowIfNull(b);
        return new BackupResponse(
            "backup",
            b.Id,
            new BackupMetadata(Timestamp(b.CreatedDate), StateName(b.State)),
            new ClusterBackup(b.Id, b.ClusterId, b.Version, b.IsActive,
                b.EarliestRecoveryTargetTime is { } t ? Timestamp(t) : null, SizeInMegabytes(b.SizeBytes), b.Location));
    }

    /// <summary>The backup's <c>BackupResponse</c> as the API writes it (UTF-8 JSON): a list item or a whole response.</summary>
    public static byte[] ToJsonItem(BackupRecord b) =>
        System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(ToResponse(b), ApiJsonContext.Api.BackupResponse);

    /// <summary>A base backup as the API shows it, with its keep flag and annotations (null: none).</summary>
    public static BaseBackupResponse ToResponse(BaseBackupRecord b, string type, bool keep, IReadOnlyDictionary<string, string>? annotations)
    {
        ArgumentNullException.ThrowIfNull(b);
        var state = b.State switch
        {
            BaseBackupState.Running => BackupState.Busy,
            BaseBackupState.Complete => BackupState.Available,
            _ => BackupState.Failed,
        };
        double? duration = b.CompletedAt is { } done ? Math.Round((done - b.StartedAt).TotalSeconds, 3) : null;
        return new BaseBackupResponse("basebackup", b.Label, new BackupMetadata(Timestamp(b.StartedAt), StateName(state)),
            new BaseBackupProperties(b.Label, b.BackupId, type, b.Timeline, Timestamp(b.StartedAt), b.CompletedAt is { } c ? Timestamp(c) : null,
                b.StartLsn is { } start ? new PgVault.Postgres.Lsn(start).ToString() : null, b.EndLsn is { } end ? new PgVault.Postgres.Lsn(end).ToString() : null,
                b.SizeBytes, b.DatabaseBytes, duration, keep, annotations is { Count: > 0 } ? annotations : null, b.Error));
    }

    public static ClusterResponse ToResponse(ClusterRecord c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return new ClusterResponse("cluster", c.Id, new ClusterMetadata(Timestamp(c.CreatedDate), StateName(c.State)),
            new ClusterProperties(c.DisplayName, c.PostgresVersion, c.BackupLocation));
    }

    public static ClusterBackupList ToList(string id, Page<BackupRecord> page, HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(page);
        var items = new BackupResponse[page.Items.Count];
        for (var i = 0; i < items.Length; i++)
            items[i] = ToResponse(page.Items[i]);
        return new ClusterBackupList("collection", id, items, page.Offset, page.Limit, Links(request, page.Offset, page.Limit, page.HasMore));
    }

    public static ClusterList ToList(Page<ClusterRecord> page, HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(page);
        return new ClusterList("collection", "clusters", page.Items.Select(ToResponse).ToArray(), page.Offset, page.Limit,
            Links(request, page.Offset, page.Limit, page.HasMore));
    }

    /// <summary>As IONOS writes times: UTC, ISO 8601, whole seconds, ending in <c>Z</c> (<c>2026-11-26T20:24:19Z</c>).</summary>
    public static string Timestamp(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>Whole MB (MiB), rounded up: 1 byte is 1 MB, 0 bytes is 0.</summary>
    public static long SizeInMegabytes(long bytes) => bytes <= 0 ? 0 : ((bytes - 1) / BytesPerMegabyte) + 1;

    public static string StateName(BackupState s) => s switch
    {
        BackupState.Available => "AVAILABLE",
        BackupState.Busy => "BUSY",
        BackupState.Destroying => "DESTROYING",
        BackupState.Degraded => "DEGRADED",
        BackupState.Failed => "FAILED",
        _ => "UNKNOWN",
    };

    public static string StateName(ClusterState s) => s switch
    {
        ClusterState.Available => "AVAILABLE",
        ClusterState.Busy => "BUSY",
        ClusterState.Destroying => "DESTROYING",
        ClusterState.Degraded => "DEGRADED",
        ClusterState.Failed => "FAILED",
        _ => "UNKNOWN",
    };

    /// <summary>
    /// Absolute links for the page: <c>self</c> always, <c>prev</c> only when offset &gt; 0, <c>next</c> only when more
    /// elements follow. The path is the one the client used (with or without <c>/databases/postgresql</c>).
    /// </summary>
    public static PaginationLinks Links(HttpRequest request, int offset, int limit, bool hasMore)
    {
        ArgumentNullException.ThrowIfNull(request);
        var baseUrl = string.Concat(request.Scheme, "://", request.Host.ToUriComponent(), request.PathBase.ToUriComponent(),
            request.Path.ToUriComponent());
        string Url(int o) => string.Create(CultureInfo.InvariantCulture, $"{baseUrl}?offset={o}&limit={limit}");
        return new PaginationLinks(
            offset > 0 ? Url(Math.Max(0, offset - limit)) : null,
            Url(offset),
            hasMore ? Url(offset + limit) : null);
    }
}

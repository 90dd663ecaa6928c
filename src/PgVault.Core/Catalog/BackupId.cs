using PgVault.Errors;

namespace PgVault.Catalog;

/// <summary>
/// The id of a PgVault backup (a chain): <c>&lt;clusterId&gt;-&lt;chainId&gt;-&lt;major&gt;</c>, the cluster's UUID, the
/// chain's id (its folder in the repository) and the PostgreSQL major version. The one place that builds and parses it.
/// </summary>
public readonly record struct BackupId
{
    private const int UuidLength = 36;

    public BackupId(string clusterId, string chainId, string major)
    {
        ArgumentException.ThrowIfNullOrEmpty(clusterId);
        ArgumentException.ThrowIfNullOrEmpty(chainId);
        ArgumentException.ThrowIfNullOrEmpty(major);
        if (major.Contains('-', StringComparison.Ordinal))
            throw new ArgumentException($"'{major}' cannot be the major version of a backup id", nameof(major));
        ClusterId = clusterId;
        ChainId = chainId;
        Major = major;
    }

    /// <summary>The cluster's id (a UUID).</summary>
    public string ClusterId { get; }

    /// <summary>The chain's id: its folder under the cluster in the repository.</summary>
    public string ChainId { get; }

    /// <summary>The PostgreSQL major version the chain's WAL belongs to.</summary>
    public string Major { get; }

    /// <summary>The id as the API and the repository show it.</summary>
    public string Format() => $"{ClusterId}-{ChainId}-{Major}";

    public override string ToString() => Format();

    /// <summary>Parses an id; false when <paramref name="text"/> is not one (a UUID, '-', a chain id, '-', a major).</summary>
    public static bool TryParse(string? text, out BackupId id)
    {
        id = default;
        if (text is null || text.Length < UuidLength + 4 || !Guid.TryParseExact(text.AsSpan(0, UuidLength), "D", out _) || text[UuidLength] != '-')
            return false;
        var lastDash = text.LastIndexOf('-');
        if (lastDash <= UuidLength + 1 || lastDash == text.Length - 1)
            return false;
        id = new BackupId(text[..UuidLength], text[(UuidLength + 1)..lastDash], text[(lastDash + 1)..]);
        return true;
    }

    /// <summary>Parses an id; throws <see cref="PgVaultException"/> (<see cref="ErrorCode.NotFound"/>) when it is not one.</summary>
    public static BackupId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var id)
            ? id
            : throw new PgVaultException(ErrorCode.NotFound, $"'{text}' is not a PgVault backup id (<clusterId>-<suffix>-<major>)");
    }

    /// <summary>Whether <paramref name="text"/> is the id of chain <paramref name="chainId"/> of cluster <paramref name="clusterId"/>.</summary>
    public static bool IsOfChain(string? text, string clusterId, string chainId) =>
        TryParse(text, out var id) && string.Equals(id.ClusterId, clusterId, StringComparison.Ordinal)
                                   && string.Equals(id.ChainId, chainId, StringComparison.Ordinal);
}

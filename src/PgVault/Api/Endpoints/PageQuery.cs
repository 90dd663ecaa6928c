using System.Globalization;
using PgVault.Catalog;
using PgVault.Errors;

namespace PgVault.Api.Endpoints;

/// <summary>Reads and validates the IONOS <c>limit</c> and <c>offset</c> query parameters.</summary>
public static class PageQuery
{
    public static PageRequest Parse(IQueryCollection query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var limit = ReadInt(query, "limit", PageRequest.DefaultLimit, 1, PageRequest.MaxLimit);
        var offset = ReadInt(query, "offset", 0, 0, int.MaxValue - PageRequest.MaxLimit);
        return new PageRequest(offset, limit);
    }

    private static int ReadInt(IQueryCollection query, string name, int @default, int min, int max)
    {
        if (!query.TryGetValue(name, out var values))
            return @default;
        if (values.Count != 1)
            throw Invalid(name, $"it was given {values.Count} times", min, max);
        var text = values[0];
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            throw Invalid(name, $"'{text}' is not an integer", min, max);
        if (value < min || value > max)
            throw Invalid(name, $"{value} is out of range", min, max);
        return value;
    }

    private static PgVaultException Invalid(string name, string why, int min, int max) =>
        new(ErrorCode.InvalidParameter,
            max == int.MaxValue - PageRequest.MaxLimit
                ? $"query parameter '{name}' must be an integer of at least {min}: {why}"
                : $"query parameter '{name}' must be an integer from {min} to {max}: {why}");
}

/// <summary>Cluster ids are UUIDs; any spelling of one is taken in its canonical lowercase form.</summary>
public static class ClusterIds
{
    public static string Normalize(string id) => PgVault.Configuration.PgVaultOptionsValidator.CanonicalClusterId(id);
}

using Npgsql;
using PgVault.Errors;

namespace PgVault.Catalog.Postgres;

/// <summary>Opens a connection to the PostgreSQL catalog, or fails with one clear error naming the server and its use.</summary>
internal static class CatalogConnections
{
    /// <summary>A connection from <paramref name="dataSource"/>; <paramref name="use"/> says what it is for, as the error
    /// names it ("" for the catalog itself, " for the fleet's leases", …).</summary>
    public static async ValueTask<NpgsqlConnection> OpenAsync(NpgsqlDataSource dataSource, string use, CancellationToken ct)
    {
        try
        {
            return await dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        }
        catch (NpgsqlException ex)
        {
            var b = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
            throw new PgVaultException(ErrorCode.CatalogUnavailable,
                $"unable to connect to the PostgreSQL catalog{use} (host '{b.Host}', port {b.Port}, database '{b.Database}'): {ex.Message}",
                "check PgVault:Catalog:ConnectionString and that the server is running", ex);
        }
    }
}

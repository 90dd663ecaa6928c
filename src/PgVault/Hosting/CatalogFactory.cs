using Microsoft.Data.Sqlite;
using PgVault.Catalog;
using PgVault.Catalog.Postgres;
using PgVault.Catalog.Sqlite;
using PgVault.Configuration;

namespace PgVault.Hosting;

/// <summary>Creates the configured catalog: SQLite in the data directory unless configured otherwise.</summary>
public static class CatalogFactory
{
    public static ICatalog Create(PgVaultOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.Equals(options.Catalog.Provider, CatalogOptions.Postgres, StringComparison.Ordinal))
            return new PostgresCatalog(options.Catalog.ConnectionString!);
        var cs = options.Catalog.ConnectionString;
        if (string.IsNullOrWhiteSpace(cs))
            cs = new SqliteConnectionStringBuilder { DataSource = Path.Combine(options.DataDirectoryFullPath, "catalog.db") }.ToString();
        return new SqliteCatalog(cs);
    }
}

using Microsoft.Data.Sqlite;
using PgVault.Catalog.Sqlite;
using PgVault.Testing;

namespace PgVault.Catalog.Tests;

public sealed class SqliteCatalogTests : CatalogContract, IDisposable
{
    private readonly TempDirectory _dir = new("sqlite-catalog");
    private readonly Dictionary<ICatalog, string> _paths = [];

    protected override Task<ICatalog> CreateCatalogAsync(string name)
    {
        var path = Path.Combine(_dir.Path, name, "catalog.db");
        var catalog = new SqliteCatalog($"Data Source={path}");
        _paths[catalog] = path;
        return Task.FromResult<ICatalog>(catalog);
    }

    protected override ICatalog OpenAgain(ICatalog catalog) => new SqliteCatalog($"Data Source={_paths[catalog]}");

    protected override async Task ExecuteSqlAsync(ICatalog catalog, string sql)
    {
        await using var conn = new SqliteConnection($"Data Source={_paths[catalog]}");
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        await cmd.ExecuteNonQueryAsync();
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }
}

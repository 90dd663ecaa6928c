using Npgsql;
using PgVault.Catalog.Postgres;
using PgVault.Testing;
using Xunit;

[assembly: AssemblyFixture(typeof(PgVault.Catalog.Tests.PostgresServer))]

namespace PgVault.Catalog.Tests;

/// <summary>
/// One PostgreSQL server for the whole assembly; each test gets a database of its own.
/// <c>PGVAULT_TEST_DB</c> (a connection string to a server whose user may create databases) replaces the fixture's server.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private PostgresCluster? _cluster;
    private string? _external;

    public async ValueTask InitializeAsync()
    {
        _external = Environment.GetEnvironmentVariable("PGVAULT_TEST_DB");
        if (string.IsNullOrEmpty(_external) && PostgresCluster.FindBinDirectory() is not null)
            _cluster = await PostgresCluster.StartAsync("catalog");
    }

    /// <summary>Creates a database for one test and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string hint)
    {
        if (_cluster is not null)
            return _cluster.ConnectionString(await _cluster.CreateDatabaseAsync(hint));
        TestEnvironment.RequireOrSkip(!string.IsNullOrEmpty(_external), "no PostgreSQL: install postgresql-15 or set PGVAULT_TEST_DB");
        var name = $"t_{Guid.NewGuid():N}";
        await using (var conn = new NpgsqlConnection(_external))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", conn);
            await cmd.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(_external) { Database = name }.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
            await _cluster.DisposeAsync();
    }
}

[Trait("Category", "Postgres")]
public sealed class PostgresCatalogTests(PostgresServer server) : CatalogContract, IAsyncDisposable
{
    private readonly List<PostgresCatalog> _catalogs = [];
    private readonly Dictionary<ICatalog, string> _connectionStrings = [];

    protected override async Task<ICatalog> CreateCatalogAsync(string name)
    {
        var cs = await server.CreateDatabaseAsync(name);
        var catalog = new PostgresCatalog(cs);
        _catalogs.Add(catalog);
        _connectionStrings[catalog] = cs;
        return catalog;
    }

    protected override ICatalog OpenAgain(ICatalog catalog)
    {
        var again = new PostgresCatalog(_connectionStrings[catalog]);
        _catalogs.Add(again);
        return again;
    }

    protected override async Task ExecuteSqlAsync(ICatalog catalog, string sql)
    {
        await using var conn = new NpgsqlConnection(_connectionStrings[catalog]);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _catalogs)
            await c.DisposeAsync();
    }
}

using System.Data.Common;
using Microsoft.Data.Sqlite;
using PgVault.Catalog.Sql;
using PgVault.Errors;

namespace PgVault.Catalog.Sqlite;

/// <summary>
/// The embedded catalog: a SQLite database file in WAL mode. Readers never block the writer; concurrent writers wait
/// (Microsoft.Data.Sqlite retries a busy database until the command timeout).
/// </summary>
public sealed class SqliteCatalog : AdoCatalog
{
    private static readonly IReadOnlyList<Migration> Migrations = Migration.FromAssembly(typeof(SqliteCatalog).Assembly);
    private readonly string _connectionString;

    /// <param name="connectionString">A Microsoft.Data.Sqlite connection string, e.g. <c>Data Source=/var/lib/pgvault/catalog.db</c>.</param>
    public SqliteCatalog(string connectionString)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString) { Pooling = true };
        if (builder.Mode != SqliteOpenMode.Memory && !string.IsNullOrEmpty(builder.DataSource))
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(builder.DataSource));
            if (!string.IsNullOrEmpty(dir))
                Directory.CreateDirectory(dir);
        }

        _connectionString = builder.ToString();
    }

    public override string Provider => "sqlite";

    protected override async ValueTask<DbConnection> OpenAsync(CancellationToken ct)
    {
        var conn = new SqliteConnection(_connectionString);
        try
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            return conn;
        }
        catch (SqliteException ex)
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw new PgVaultException(ErrorCode.CatalogUnavailable, $"unable to open the SQLite catalog '{conn.DataSource}': {ex.Message}",
                "check that the file's directory exists and is writable by pgvault", ex);
        }
    }

    public override async Task MigrateAsync(CancellationToken ct)
    {
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            await using (var wal = Command(conn, "PRAGMA journal_mode=WAL"))
                await wal.ExecuteNonQueryAsync(ct).ConfigureAwait(false);

            // BEGIN IMMEDIATE takes the write lock up front, so two processes migrating at once run one after the other.
            await using (var begin = Command(conn, "BEGIN IMMEDIATE"))
                await begin.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            try
            {
                await using (var create = Command(conn, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
                    await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                long current;
                await using (var read = Command(conn, "SELECT coalesce(max(version), 0) FROM schema_version"))
                    current = (long)(await read.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
                if (current > Migrations.Count)
                {
                    throw new PgVaultException(ErrorCode.CatalogSchemaTooNew,
                        $"the SQLite catalog '{conn.DataSource}' has schema version {current}, this pgvault knows up to {Migrations.Count}",
                        "upgrade pgvault, or point it at another catalog");
                }

                foreach (var m in Migrations.Where(m => m.Version > current))
                {
                    await using (var step = Command(conn, m.Sql))
                        await step.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    await using var mark = Command(conn, "INSERT INTO schema_version (version) VALUES (@v)");
                    Add(mark, "v", m.Version);
                    await mark.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                await using (var commit = Command(conn, "COMMIT"))
                    await commit.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            catch
            {
                await using var rollback = Command(conn, "ROLLBACK");
                await rollback.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
                throw;
            }
        }
    }
}

using System.Data.Common;
using Npgsql;
using PgVault.Catalog.Sql;
using PgVault.Errors;

namespace PgVault.Catalog.Postgres;

/// <summary>
/// A catalog in a PostgreSQL database, for several pgvault instances sharing one index. Migrations run under an
/// advisory lock, so instances starting together upgrade the schema once.
/// </summary>
public sealed class PostgresCatalog : AdoCatalog, IAsyncDisposable
{
    /// <summary>Arbitrary, fixed key of the advisory lock held while migrating ("pgvault" in ASCII).</summary>
    private const long MigrationLockKey = 0x7067_7661_756c_74;

    private static readonly IReadOnlyList<Migration> Migrations = Migration.FromAssembly(typeof(PostgresCatalog).Assembly);
    private readonly NpgsqlDataSource _dataSource;

    public PostgresCatalog(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        builder.ApplicationName ??= "pgvault-catalog";
        // The API runs the same few statements all the time: let Npgsql prepare them (parse and plan once).
        if (builder.MaxAutoPrepare == 0)
        {
            builder.MaxAutoPrepare = 32;
            builder.AutoPrepareMinUsages = 2;
        }

        _dataSource = NpgsqlDataSource.Create(builder);
    }

    public override string Provider => "postgres";

    protected override async ValueTask<DbConnection> OpenAsync(CancellationToken ct) =>
        await CatalogConnections.OpenAsync(_dataSource, "", ct).ConfigureAwait(false);

    public override async Task MigrateAsync(CancellationToken ct)
    {
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        {
            var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (tx.ConfigureAwait(false))
            {
                async Task ExecAsync(string sql, int? version = null)
                {
                    await using var cmd = Command(conn, sql);
                    cmd.Transaction = tx;
                    if (version is not null)
                        Add(cmd, "v", version.Value);
                    await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                await ExecAsync($"SELECT pg_advisory_xact_lock({MigrationLockKey})");
                await ExecAsync("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)");
                int current;
                await using (var read = Command(conn, "SELECT coalesce(max(version), 0) FROM schema_version"))
                {
                    read.Transaction = tx;
                    current = (int)(await read.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
                }

                if (current > Migrations.Count)
                {
                    throw new PgVaultException(ErrorCode.CatalogSchemaTooNew,
                        $"the PostgreSQL catalog '{conn.Database}' has schema version {current}, this pgvault knows up to {Migrations.Count}",
                        "upgrade pgvault, or point it at another catalog");
                }

                foreach (var m in Migrations.Where(m => m.Version > current))
                {
                    await ExecAsync(m.Sql);
                    await ExecAsync("INSERT INTO schema_version (version) VALUES (@v)", m.Version);
                }

                await tx.CommitAsync(ct).ConfigureAwait(false);
            }
        }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
